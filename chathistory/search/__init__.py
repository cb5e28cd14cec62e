"""Text search over the chat history that works for Chinese (docs/search.md).

grams.py turns text into the index's keys, index.py keeps the side index
(chathistory_searchgram) up to date, query.py answers searches with it and checks
every candidate against the message itself.
"""
