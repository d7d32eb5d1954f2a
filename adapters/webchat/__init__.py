"""Web chat: the widget on a company's site (``/widget.js``) and its visitor WebSocket."""

from adapters.webchat.adapter import WebchatAdapter

__all__ = ["WebchatAdapter"]
