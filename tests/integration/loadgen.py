"""A small asyncio HTTP/1.1 client for load tests: keep-alive connections, Content-Length
bodies, and Server-Sent Events streams."""
import asyncio
import json


class HttpConnection:
    """One keep-alive connection to host:port."""

    def __init__(self, host, port, token=None):
        self.host, self.port, self.token = host, port, token
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method, path, body=None):
        """Returns (status, body bytes)."""
        data = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(data)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode().partition(":")
            if key.lower() == "content-length":
                length = int(value)
            elif key.lower() == "transfer-encoding" and "chunked" in value:
                chunked = True
        if chunked:
            payload = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                payload += chunk[:-2]
        else:
            payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def close(self):
        if self.writer:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except Exception:
                pass


async def read_chunk(reader):
    """Reads one chunk of a chunked body (b"" at its end)."""
    size = int((await reader.readline()).strip() or b"0", 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


async def open_event_stream(host, port, path="/api/v1/events"):
    """Opens an SSE stream; returns (reader, writer) positioned after the headers."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    if status != 200:
        raise ConnectionError(f"event stream refused: {status}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    return reader, writer
