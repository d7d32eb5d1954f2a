"""The agent and admin console (``/console``) and the web chat widget script (``/widget.js``)."""
