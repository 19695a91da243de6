"""The room's live page: an aiohttp server on a thread of its own, fed by the owner's records.

output.py (`WebOutput`, an `Output`) hands every record to hub.py (`LiveHub`, the page's state and its
open feeds) on the server's loop; server.py is the aiohttp application (static page, JSON API, the
command endpoint), feed.py the Server-Sent Events stream with its catch-up, history.py the one place
that reads the archive, banner.py what the banner says, auth.py who may read and who may command.
"""
