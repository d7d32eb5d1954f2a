"""Text search shared by the gateway's features (the knowledge base, search).

Everything runs offline from what the wheels ship: Chinese word segmentation by ``rjieba``
(jieba-rs, with its bundled dictionary), Traditional -> Simplified folding by ``opencc``
(``tw2sp``: characters and Taiwan phrases, 印表機 -> 打印机), BM25 ranking by ``bm25s``.

The API is small:

- ``fold(text)``: the comparable form of a text: NFKC (full-width -> half-width), lowercase,
  Traditional -> Simplified; texts up to 2,000 characters are cached (``fold.cache_clear()``).
- ``Synonyms(groups)``: groups of interchangeable terms; every term of a group is read as the
  group's first one. ``Synonyms.parse(lines)`` reads ``a, b, c`` lines.
- ``Analyzer(synonyms)``: ``tokens(text)``: folded, synonym-mapped tokens: Chinese words and
  character bigrams (bigrams survive typos and segmentation differences), English words
  lightly stemmed; stop words dropped.
- ``SearchIndex(analyzer, docs)``: BM25 over weighted fields; ``search(query, k)`` answers
  ``Hit``\\ s, best first, each with its BM25 score and its *coverage*: the share of the
  query's information (IDF-weighted tokens) the document contains.

For live data that changes one record at a time (gateway/search/):

- ``postings.Postings``: a compact inverted index (token hashes -> int32 document numbers, a
  numpy base plus an appended delta, ``compact`` in a thread).
- ``terms.required_terms(tokens)``: what a document must hold to match a query;
  ``terms.index_terms``: the tokens of a document worth keeping for it;
  ``terms.partial_terms``: prefixes, characters and number endings of short fields.
"""

from gateway.textsearch.analyzer import Analyzer, Synonyms, fold
from gateway.textsearch.index import Hit, SearchIndex

__all__ = ["Analyzer", "Hit", "SearchIndex", "Synonyms", "fold"]
