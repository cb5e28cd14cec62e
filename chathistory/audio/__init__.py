"""Chat audio in the hub's own storage (docs/audio.md).

storage.py  store_audio / open_audio / delete_audio over the "chat_audio" storage
policy.py   whether a message's audio may be copied and played (the source's audio
            mode, the agent's chat_history_conf)
source_db.py the blobs of a mysql source (ai_agent_chat_audio), read by audio id
copy.py     copy_pending: a sync-mode source's missing audio, in bounded batches
fetch.py    audio_for_play: the stored audio, fetched from the source on first play
ranges.py   HTTP Range requests (RFC 9110) over a stored file
"""
