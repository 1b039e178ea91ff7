"""A webhook receiver that does nothing: reads each request, answers 204, closes the connection.

    python -m bench.null_receiver [--port 0]

For `bench.callback_pace --receiver null`: status callbacks go here instead of to the application,
so the sending rate it measures is the most any application could keep on this machine with the
fake sending callbacks from the same cores (an upper bound, not a figure of ours). Prints
`listening on http://127.0.0.1:PORT` first; GET /count answers how many requests it has read.
Standard library only, one asyncio loop: far cheaper per request than any web framework.
"""

from __future__ import annotations

import argparse
import asyncio
import sys


class Receiver(asyncio.Protocol):
    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.buffer, self.needed = transport, b"", -1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.needed < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip() == b"content-length":
                    length = int(value)
            self.needed = end + 4 + length
            self.is_count = head.startswith(b"get /count")
        if len(self.buffer) >= self.needed:
            if self.is_count:
                body = str(Receiver.count).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                                     % (len(body), body))
            else:
                Receiver.count += 1
                self.transport.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            self.transport.close()


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port, backlog=1024)
    print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
