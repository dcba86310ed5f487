"""The development kit, in a room of its own so no production code sits beside it: the ``/dev``
test platform (``platform.py``), the stand-in Canvas it and the tests talk to (``standin.py``),
the demo loader of ``make run`` (``demo.py``) and its development mailbox (``mail.py``). The app
registers the platform and the mailbox only outside production; the demo loader is a command.
"""
