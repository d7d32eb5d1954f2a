"""The knowledge base: articles in Redis, retrieval with a confidence, self-service answers
and suggestions for agents (docs/knowledge-base.md).

- ``KnowledgeBase`` (service.py): the service object wired in ``gateway/services.py``:
  ``articles`` (CRUD, synonyms), ``search(question, k)``, ``answer(question)``.
- ``Retriever`` / ``Match`` (retrieval.py): the index and its confidence figures, usable
  without Redis (the bench uses it).
- ``api.py``: ``/api/v1/kb/...``; ``transfer.py``: CSV and Markdown import / export.
"""

from gateway.kb.articles import ArticleBody, ArticlePatch, Articles, KbError
from gateway.kb.retrieval import Match, Retriever
from gateway.kb.service import KnowledgeBase

__all__ = [
    "ArticleBody",
    "ArticlePatch",
    "Articles",
    "KbError",
    "KnowledgeBase",
    "Match",
    "Retriever",
]
