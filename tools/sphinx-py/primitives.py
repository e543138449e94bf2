"""The primitives docs/sphinx.md names, from their RFCs, in pure Python (standard library only).

X25519 (RFC 7748) and ChaCha20 (RFC 8439) are written out here; BLAKE2b (RFC 7693) is
hashlib's, which takes the key, salt and personalisation that libsodium's crypto_generichash and
crypto_kdf_derive_from_key use. Slow and not constant time: for checking vectors, never for keys
that matter.
"""

import hashlib
import struct

# X25519 (RFC 7748 section 5) -------------------------------------------------------------

P25519 = 2**255 - 19
A24 = 121665


def clamp(k: bytes) -> int:
    """decodeScalar25519: clear bits 0-2 and 255, set bit 254."""
    if len(k) != 32:
        raise ValueError("X25519 scalar must be 32 bytes")
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(b, "little")


def decode_u(u: bytes) -> int:
    """decodeUCoordinate: the top bit is masked; non-canonical values are taken mod p."""
    if len(u) != 32:
        raise ValueError("X25519 u-coordinate must be 32 bytes")
    b = bytearray(u)
    b[31] &= 127
    return int.from_bytes(b, "little") % P25519


def x25519(k: bytes, u: bytes) -> bytes:
    """The Montgomery ladder of RFC 7748 section 5 (cswap written as a branch)."""
    scalar = clamp(k)
    x1 = decode_u(u)
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    p = P25519
    for t in range(254, -1, -1):
        bit = (scalar >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        # sums and differences are left unreduced: every product below is reduced mod p
        a = x2 + z2
        aa = a * a % p
        b = x2 - z2
        bb = b * b % p
        e = aa - bb
        c = x3 + z3
        d = x3 - z3
        da = d * a % p
        cb = c * b % p
        x3 = (da + cb) ** 2 % p
        z3 = x1 * ((da - cb) ** 2 % p) % p
        x2 = aa * bb % p
        z2 = e * (aa + A24 * e) % p
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, p - 2, p) % p).to_bytes(32, "little")


BASE_POINT = (9).to_bytes(32, "little")

# ChaCha20 (RFC 8439 section 2.3-2.4) -----------------------------------------------------

_MASK = 0xFFFFFFFF
_CONSTANTS = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)


def _rotl(v: int, n: int) -> int:
    return ((v << n) & _MASK) | (v >> (32 - n))


def _quarter(s: list, a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & _MASK
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & _MASK
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & _MASK
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & _MASK
    s[b] = _rotl(s[b] ^ s[c], 7)


def chacha20_block(key: bytes, counter: int, nonce: bytes) -> bytes:
    if len(key) != 32 or len(nonce) != 12:
        raise ValueError("ChaCha20 takes a 32-byte key and a 12-byte nonce")
    state = [*_CONSTANTS, *struct.unpack("<8I", key), counter & _MASK, *struct.unpack("<3I", nonce)]
    w = list(state)
    for _ in range(10):
        _quarter(w, 0, 4, 8, 12)
        _quarter(w, 1, 5, 9, 13)
        _quarter(w, 2, 6, 10, 14)
        _quarter(w, 3, 7, 11, 15)
        _quarter(w, 0, 5, 10, 15)
        _quarter(w, 1, 6, 11, 12)
        _quarter(w, 2, 7, 8, 13)
        _quarter(w, 3, 4, 9, 14)
    return struct.pack("<16I", *((w[i] + state[i]) & _MASK for i in range(16)))


def chacha20_stream(key: bytes, length: int, nonce: bytes = bytes(12), counter: int = 0) -> bytes:
    blocks = (length + 63) // 64
    return b"".join(chacha20_block(key, counter + i, nonce) for i in range(blocks))[:length]


def xor(a: bytes, b: bytes) -> bytes:
    if len(a) != len(b):
        raise ValueError(f"xor of {len(a)} and {len(b)} bytes")
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def chacha20_xor(key: bytes, m: bytes, nonce: bytes = bytes(12), counter: int = 0) -> bytes:
    """S(k, m) of docs/sphinx.md with the defaults (nonce 0^12, counter 0)."""
    return xor(m, chacha20_stream(key, len(m), nonce, counter))


# BLAKE2b (RFC 7693) and libsodium's KDF --------------------------------------------------


def blake2b(m: bytes, size: int, key: bytes = b"") -> bytes:
    return hashlib.blake2b(m, digest_size=size, key=key).digest()


def kdf(subkey_id: int, key: bytes, context: bytes = b"mlsphinx", size: int = 64) -> bytes:
    """crypto_kdf_derive_from_key(size, id, context, key): keyed BLAKE2b of the empty message,
    salt u64le(id) | 0^8, personalisation context | 0^8."""
    if len(context) != 8:
        raise ValueError("KDF context must be 8 bytes")
    return hashlib.blake2b(
        b"",
        digest_size=size,
        key=key,
        salt=struct.pack("<Q", subkey_id) + bytes(8),
        person=context + bytes(8),
    ).digest()
