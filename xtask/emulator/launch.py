# Starts MiniStack through its own entry point, with one change made first.
#
# MiniStack's runtime API for provided.* functions writes each event in two sends on a
# socketserver connection with Nagle's algorithm on, so every warm call of a Rust trigger
# waits about 40 ms for a delayed ACK. Real Lambda has no such stall. Turning Nagle off on
# socketserver's stream handlers, before MiniStack imports them, removes it.
import socketserver

socketserver.StreamRequestHandler.disable_nagle_algorithm = True

from ministack.app import main  # noqa: E402

main()
