"""mixlab Sphinx version 2, written from docs/sphinx.md (the specification) alone.

A second implementation, to check that the committed vectors follow the document and not just
the TypeScript that generated them. Names follow the document: alpha, beta, gamma, delta,
slots, filler, keys, wrap, peel, createReplyBlock, wrapReply, openReply.
"""

import hmac
import re
import struct
from dataclasses import dataclass

from primitives import BASE_POINT, blake2b, chacha20_xor, kdf, x25519, xor

KEY_PREFIX = b"mixlab-sphinx-v2"
MAX_GATEWAY_URL_BYTES = 255
MAX_REPLY_GATEWAY_BYTES = 30
LIONESS_KEY_BYTES = 128
REPLY_ID_BYTES = 16
NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

FLAG_FORWARD = 0x01
FLAG_DELIVER = 0x02
FLAG_DELIVER_REPLY = 0x03


class PacketError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


# Geometry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    max_hops: int
    payload_bytes: int

    @property
    def slot(self) -> int:  # P
        return 1 + 4 + 1 + 64 + 32

    @property
    def routing(self) -> int:  # R
        return self.max_hops * self.slot

    @property
    def header(self) -> int:
        return 32 + self.routing + 32

    @property
    def packet(self) -> int:
        return self.header + self.payload_bytes

    @property
    def reply_block(self) -> int:
        return 65 + self.header + LIONESS_KEY_BYTES

    @property
    def reply_capacity(self) -> int:
        return self.payload_bytes - 20


def geometry(max_hops: int, payload_bytes: int) -> Geometry:
    if not 1 <= max_hops <= 32 or not 309 <= payload_bytes <= 2**24:
        raise ValueError(f"geometry out of range: {max_hops} hops, {payload_bytes} bytes")
    return Geometry(max_hops, payload_bytes)


# Per-hop keys -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HopKeys:
    shared_secret: bytes
    header_mac_key: bytes
    routing_key: bytes
    blinding_factor: bytes
    replay_tag: bytes
    payload_key: bytes


def hop_keys(alpha: bytes, s: bytes) -> HopKeys:
    k = blake2b(KEY_PREFIX + alpha + s, 32)
    k1, k2 = kdf(1, k), kdf(2, k)
    return HopKeys(
        shared_secret=s,
        header_mac_key=k1[:32],
        routing_key=k1[32:],
        blinding_factor=k2[:32],
        replay_tag=k2[32:],
        payload_key=kdf(3, k) + kdf(4, k),
    )


def header_mac(keys: HopKeys, alpha: bytes, beta: bytes) -> bytes:
    return blake2b(alpha + beta, 32, key=keys.header_mac_key)


def routing_stream(g: Geometry, keys: HopKeys) -> bytes:
    """rho = ChaCha20(routingKey)[0, R + P)."""
    return chacha20_xor(keys.routing_key, bytes(g.routing + g.slot))


# LIONESS ----------------------------------------------------------------------------------


def _split_lioness_key(key: bytes) -> tuple:
    if len(key) != LIONESS_KEY_BYTES:
        raise ValueError("a LIONESS key is 128 bytes")
    return key[0:32], key[32:64], key[64:96], key[96:128]


def lioness_encrypt(key: bytes, block: bytes) -> bytes:
    k1, k2, k3, k4 = _split_lioness_key(key)
    left, right = block[:32], block[32:]
    right = chacha20_xor(xor(left, k1), right)
    left = xor(left, blake2b(right, 32, key=k2))
    right = chacha20_xor(xor(left, k3), right)
    left = xor(left, blake2b(right, 32, key=k4))
    return left + right


def lioness_decrypt(key: bytes, block: bytes) -> bytes:
    k1, k2, k3, k4 = _split_lioness_key(key)
    left, right = block[:32], block[32:]
    left = xor(left, blake2b(right, 32, key=k4))
    right = chacha20_xor(xor(left, k3), right)
    left = xor(left, blake2b(right, 32, key=k2))
    right = chacha20_xor(xor(left, k1), right)
    return left + right


# Route and slots --------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteHop:
    id: str
    public_key: bytes
    delay_ms: int = 0


def _check_delay(d: int) -> None:
    if not isinstance(d, int) or not 0 <= d <= 2**32 - 1:
        raise ValueError(f"delay must be an integer 0..2^32-1, got {d!r}")


def _check_node_id(node_id: str) -> bytes:
    if not NODE_ID.fullmatch(node_id):
        raise ValueError(f"bad node id {node_id!r}")
    return node_id.encode("ascii")


def _check_route(g: Geometry, route: list) -> None:
    if not 1 <= len(route) <= g.max_hops:
        raise ValueError(f"route of {len(route)} hops (1..{g.max_hops})")
    for hop in route:
        _check_node_id(hop.id)
        if len(hop.public_key) != 32:
            raise ValueError("a public key is 32 bytes")
        _check_delay(hop.delay_ms)


def forward_slot(delay_ms: int, next_id: str, next_mac: bytes) -> bytes:
    id_bytes = _check_node_id(next_id)
    return (
        bytes([FLAG_FORWARD])
        + struct.pack(">I", delay_ms)
        + bytes([len(id_bytes)])
        + id_bytes.ljust(64, b"\0")
        + next_mac
    )


def deliver_slot(delay_ms: int) -> bytes:
    return bytes([FLAG_DELIVER]) + struct.pack(">I", delay_ms) + bytes(97)


def deliver_reply_slot(delay_ms: int, gateway: str, recipient: bytes, reply_id: bytes) -> bytes:
    gw = gateway.encode("utf-8")
    if not 1 <= len(gw) <= MAX_REPLY_GATEWAY_BYTES:
        raise ValueError(f"reply gateway id of {len(gw)} bytes (1..{MAX_REPLY_GATEWAY_BYTES})")
    if len(recipient) != 32 or len(reply_id) != REPLY_ID_BYTES:
        raise ValueError("recipient is 32 bytes, reply id 16")
    slot = (
        bytes([FLAG_DELIVER_REPLY])
        + struct.pack(">I", delay_ms)
        + bytes([len(gw)])
        + gw.ljust(30, b"\0")
        + recipient
        + reply_id
        + bytes(18)
    )
    assert len(slot) == 102
    return slot


# Header (wrap steps 1-5) ------------------------------------------------------------------


@dataclass
class Header:
    alpha: bytes
    beta: bytes
    gamma: bytes
    keys: list  # HopKeys per hop, as the client derived them

    def encoded(self) -> bytes:
        return self.alpha + self.beta + self.gamma


def build_header(g: Geometry, route: list, last_slot: bytes, x: bytes, padding: bytes) -> Header:
    n = len(route)
    P, R = g.slot, g.routing
    if len(padding) != R - n * P:
        raise ValueError("padding must be R - n*P bytes")
    # 1. group elements, secrets, keys
    alphas, keys, blindings = [], [], []
    alpha = x25519(x, BASE_POINT)
    for hop in route:
        s = x25519(x, hop.public_key)
        for b in blindings:
            s = x25519(b, s)
        if s == bytes(32):
            raise ValueError(f"public key of {hop.id} is a low-order point")
        k = hop_keys(alpha, s)
        alphas.append(alpha)
        keys.append(k)
        blindings.append(k.blinding_factor)
        alpha = x25519(k.blinding_factor, alpha)
    # 2. streams
    rho = [routing_stream(g, k) for k in keys]
    # 3. filler
    phi = b""
    for i in range(n - 1):
        phi = xor(phi + bytes(P), rho[i][R - i * P : R + P])
    # 4. last hop
    head = last_slot + padding
    beta = xor(head, rho[n - 1][: R - (n - 1) * P]) + phi
    gamma = header_mac(keys[n - 1], alphas[n - 1], beta)
    # 5. the hops before it
    for i in range(n - 2, -1, -1):
        slot = forward_slot(route[i].delay_ms, route[i + 1].id, gamma)
        beta = xor(slot + beta[: R - P], rho[i][:R])
        gamma = header_mac(keys[i], alphas[i], beta)
    return Header(alphas[0], beta, gamma, keys)


# Wrap (client) ----------------------------------------------------------------------------


class Randomness:
    """Hands out the bytes a vector recorded, in order, and insists they are all used."""

    def __init__(self, data: bytes):
        self.data, self.used = data, 0

    def take(self, n: int) -> bytes:
        if self.used + n > len(self.data):
            raise ValueError(f"randomness exhausted: want {n} at {self.used} of {len(self.data)}")
        out = self.data[self.used : self.used + n]
        self.used += n
        return out

    def done(self) -> None:
        if self.used != len(self.data):
            raise ValueError(f"{len(self.data) - self.used} bytes of randomness left unused")


def exit_payload(g: Geometry, gateway: str, recipient: bytes, message: bytes) -> bytes:
    url = gateway.encode("utf-8")
    if not 1 <= len(url) <= MAX_GATEWAY_URL_BYTES:
        raise ValueError(f"gateway URL of {len(url)} bytes")
    if len(recipient) != 32:
        raise ValueError("recipient is 32 bytes")
    body = bytes(16) + recipient + bytes([len(url)]) + struct.pack(">I", len(message)) + url + message
    if len(body) > g.payload_bytes:
        raise ValueError("message over capacity")
    return body.ljust(g.payload_bytes, b"\0")


def wrap(g: Geometry, route: list, gateway: str, recipient: bytes, message: bytes, rng: Randomness):
    """Returns (packet, header) ; header.keys are the client's per-hop keys."""
    _check_route(g, route)
    n = len(route)
    x = rng.take(32)
    padding = rng.take(g.routing - n * g.slot)
    header = build_header(g, route, deliver_slot(route[-1].delay_ms), x, padding)
    delta = exit_payload(g, gateway, recipient, message)
    for k in reversed(header.keys):
        delta = lioness_encrypt(k.payload_key, delta)
    return header.encoded() + delta, header


# Peel (node) ------------------------------------------------------------------------------


@dataclass
class Peeled:
    kind: str  # 'forward' | 'deliver'
    keys: HopKeys
    replay_tag: bytes
    delay_ms: int
    next_hop: str = ""
    packet: bytes = b""
    gateway: str = ""
    recipient: bytes = b""
    payload: bytes = b""


def peel(g: Geometry, private_key: bytes, packet: bytes) -> Peeled:
    P, R = g.slot, g.routing
    if len(packet) != g.packet:
        raise PacketError("malformed", f"packet of {len(packet)} bytes, expected {g.packet}")
    alpha, beta = packet[:32], packet[32 : 32 + R]
    gamma, delta = packet[32 + R : g.header], packet[g.header :]
    s = x25519(private_key, alpha)
    if s == bytes(32):
        raise PacketError("undecryptable", "low-order point")
    keys = hop_keys(alpha, s)
    if not hmac.compare_digest(gamma, header_mac(keys, alpha, beta)):
        raise PacketError("undecryptable", "header MAC mismatch")
    B = xor(beta + bytes(P), routing_stream(g, keys))
    slot = B[:P]
    flag, delay = slot[0], struct.unpack(">I", slot[1:5])[0]
    common = {"keys": keys, "replay_tag": keys.replay_tag, "delay_ms": delay}
    if flag == FLAG_FORWARD:
        id_len = slot[5]
        if not 1 <= id_len <= 64:
            raise PacketError("malformed", "bad next-hop id length")
        try:
            next_id = slot[6 : 6 + id_len].decode("ascii")
        except UnicodeDecodeError as e:
            raise PacketError("malformed", "next-hop id not ASCII") from e
        if not NODE_ID.fullmatch(next_id):
            raise PacketError("malformed", "bad next-hop id")
        alpha_next = x25519(keys.blinding_factor, alpha)
        out = alpha_next + B[P : R + P] + slot[70:102] + lioness_decrypt(keys.payload_key, delta)
        return Peeled("forward", next_hop=next_id, packet=out, **common)
    if flag == FLAG_DELIVER:
        plain = lioness_decrypt(keys.payload_key, delta)
        if plain[:16] != bytes(16):
            raise PacketError("malformed", "payload authenticator mismatch (tagged)")
        recipient, g_len = plain[16:48], plain[48]
        m_len = struct.unpack(">I", plain[49:53])[0]
        if g_len < 1 or 53 + g_len + m_len > g.payload_bytes:
            raise PacketError("malformed", "lengths do not fit")
        try:
            url = plain[53 : 53 + g_len].decode("utf-8")
        except UnicodeDecodeError as e:
            raise PacketError("malformed", "gateway URL not UTF-8") from e
        message = plain[53 + g_len : 53 + g_len + m_len]
        return Peeled("deliver", gateway=url, recipient=recipient, payload=message, **common)
    if flag == FLAG_DELIVER_REPLY:
        gw_len = slot[5]
        if not 1 <= gw_len <= MAX_REPLY_GATEWAY_BYTES:
            raise PacketError("malformed", "bad reply gateway length")
        try:
            gw = slot[6 : 6 + gw_len].decode("utf-8")
        except UnicodeDecodeError as e:
            raise PacketError("malformed", "reply gateway not UTF-8") from e
        recipient, reply_id = slot[36:68], slot[68:84]
        payload = reply_id + lioness_decrypt(keys.payload_key, delta)
        return Peeled("deliver", gateway=gw, recipient=recipient, payload=payload, **common)
    raise PacketError("malformed", f"unknown routing flag {flag}")


# Replies ----------------------------------------------------------------------------------


@dataclass
class ReplySecret:
    id: bytes
    keys: bytes


def create_reply_block(g: Geometry, route: list, gateway: str, recipient: bytes, rng: Randomness):
    """Returns (block, secret, header)."""
    _check_route(g, route)
    n = len(route)
    reply_id = rng.take(REPLY_ID_BYTES)
    replier_key = rng.take(LIONESS_KEY_BYTES)
    x = rng.take(32)
    padding = rng.take(g.routing - n * g.slot)
    last = deliver_reply_slot(route[-1].delay_ms, gateway, recipient, reply_id)
    header = build_header(g, route, last, x, padding)
    first = route[0].id.encode("ascii")
    block = bytes([len(first)]) + first.ljust(64, b"\0") + header.encoded() + replier_key
    assert len(block) == g.reply_block
    keys = replier_key + b"".join(k.payload_key for k in header.keys)
    return block, ReplySecret(reply_id, keys), header


def wrap_reply(g: Geometry, block: bytes, message: bytes):
    """Returns (first_hop, packet)."""
    if len(block) != g.reply_block:
        raise PacketError("malformed", f"reply block of {len(block)} bytes")
    id_len = block[0]
    first = block[1 : 1 + id_len].decode("ascii", errors="replace")
    if not 1 <= id_len <= 64 or not NODE_ID.fullmatch(first):
        raise PacketError("malformed", "bad first-hop id in reply block")
    if len(message) > g.reply_capacity:
        raise ValueError("reply over capacity")
    header = block[65 : 65 + g.header]
    key = block[65 + g.header :]
    plain = (bytes(16) + struct.pack(">I", len(message)) + message).ljust(g.payload_bytes, b"\0")
    return first, header + lioness_encrypt(key, plain)


def reply_id(g: Geometry, delivered: bytes):
    return delivered[:REPLY_ID_BYTES] if len(delivered) == REPLY_ID_BYTES + g.payload_bytes else None


def open_reply(g: Geometry, secret: ReplySecret, delivered: bytes) -> bytes:
    if len(secret.id) != REPLY_ID_BYTES or len(secret.keys) % LIONESS_KEY_BYTES != 0:
        raise ValueError("bad reply secret")
    count = len(secret.keys) // LIONESS_KEY_BYTES
    if not 2 <= count <= g.max_hops + 1:
        raise ValueError("bad reply secret key count")
    if len(delivered) != REPLY_ID_BYTES + g.payload_bytes or delivered[:16] != secret.id:
        raise PacketError("malformed", "for another reply block")
    keys = [secret.keys[i * 128 : (i + 1) * 128] for i in range(count)]
    x = delivered[16:]
    for k in reversed(keys[1:]):
        x = lioness_encrypt(k, x)
    x = lioness_decrypt(keys[0], x)
    if x[:16] != bytes(16):
        raise PacketError("malformed", "altered (tagged), or the secret is not for its block")
    m = struct.unpack(">I", x[16:20])[0]
    if m > g.reply_capacity:
        raise PacketError("malformed", "reply length does not fit")
    return x[20 : 20 + m]
