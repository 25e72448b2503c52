"""The lowest room: basics every other room shares and none of them owns.

Errors and their one-line voice (:mod:`~pavlov.common.errors`), reading a user's file
safely (:mod:`~pavlov.common.files`) and YAML with lines (:mod:`~pavlov.common.yamlio`),
command-line argument types (:mod:`~pavlov.common.argtypes`), BIDS labels and pavlov's
version (:mod:`~pavlov.common.bids`). Nothing here imports another pavlov room.
"""
