"""Events of the photo store that features above it react to (blinker, as indico does).

photos sits below visits and discovery: it must not import them, yet a stored photo changes
the record that declared it (a visit's photo count and re-use flag, a discovery report's
count). The photo service sends `photo_stored`; visits.services connects the reaction. Every
caller of `services.upload` (the sync API, tests, a future import) gets the same reaction
without knowing of it.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent with the Photo as sender once its bytes are processed and stored (not yet committed:
#: receivers change rows in the same transaction).
photo_stored = _signals.signal("photo-stored")
