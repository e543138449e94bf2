#!/usr/bin/env python3
"""Recompute every committed Sphinx vector with the second implementation (sphinx.py).

Usage: python3 tools/sphinx-py/verify_vectors.py [--vectors-only] [forward.json reply.json]

Checks the primitives against their RFCs first, then for every forward and reply case: the
route's public keys, the packet or block wrap builds from the recorded randomness, the per-hop
secrets and keys as the client derives them and as each node derives them when it peels, every
peeled packet, every delivery, the reply id and the opened reply. Prints each mismatch (field,
first differing byte, both values) and exits 1 if there is any; exits 0 and prints a summary
otherwise. --vectors-only skips the RFC known answers (for checking that a tampered file fails).
"""

import json
import sys
import time
from pathlib import Path

import sphinx
from primitives import BASE_POINT, chacha20_block, chacha20_xor, x25519

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "packages" / "packet" / "test-vectors"

mismatches: list = []
checked = 0


def check(where: str, got, want) -> None:
    """Compares a recomputed value with the vector's; bytes are compared as hex."""
    global checked
    checked += 1
    if isinstance(got, (bytes, bytearray)):
        got = bytes(got).hex()
    if got == want:
        return
    detail = ""
    if isinstance(got, str) and isinstance(want, str):
        at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        detail = f" (first difference at byte {at // 2}; lengths {len(got) // 2} and {len(want) // 2} bytes)"
    mismatches.append(f"{where}: mismatch{detail}\n    vector:   {shorten(want)}\n    computed: {shorten(got)}")


def shorten(v) -> str:
    s = str(v)
    return s if len(s) <= 160 else f"{s[:120]}...({len(s)} chars)"


def h(s: str) -> bytes:
    return bytes.fromhex(s)


# RFC known answers ------------------------------------------------------------------------


def check_rfc7748() -> None:
    where = "RFC 7748"
    for k, u, out in [
        (
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        ),
        (
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        ),
    ]:
        check(f"{where} 5.2 X25519({k[:8]}..)", x25519(h(k), h(u)), out)
    # 5.2 iterated: k = u = 9; after one and after 1000 iterations (the million is too slow here)
    k = u = BASE_POINT
    for i in range(1, 1001):
        k, u = x25519(k, u), k
        if i == 1:
            check(f"{where} 5.2 iterated x1", k, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
    check(f"{where} 5.2 iterated x1000", k, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    # 6.1 Diffie-Hellman
    a = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    b = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    a_pub = x25519(a, BASE_POINT)
    b_pub = x25519(b, BASE_POINT)
    check(f"{where} 6.1 Alice's public key", a_pub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    check(f"{where} 6.1 Bob's public key", b_pub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    check(f"{where} 6.1 shared secret (Alice)", x25519(a, b_pub), shared)
    check(f"{where} 6.1 shared secret (Bob)", x25519(b, a_pub), shared)


def check_rfc8439() -> None:
    where = "RFC 8439"
    key = bytes(range(32))
    check(
        f"{where} 2.3.2 block",
        chacha20_block(key, 1, h("000000090000004a00000000")),
        "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
        "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
    )
    sunscreen = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future,"
        b" sunscreen would be it."
    )
    check(
        f"{where} 2.4.2 encryption",
        chacha20_xor(key, sunscreen, h("000000000000004a00000000"), 1),
        "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
        "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
        "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
        "5af90bbf74a35be6b40b8eedf2785e42874d",
    )
    # A.1 #1: the case Sphinx uses (zero nonce, counter 0), here with the zero key
    check(
        f"{where} A.1 #1 key stream",
        chacha20_xor(bytes(32), bytes(64)),
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
        "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586",
    )


# Sphinx vectors ---------------------------------------------------------------------------


def route_of(case: dict, where: str) -> list:
    route = []
    for i, hop in enumerate(case["route"]):
        public = x25519(h(hop["privateKey"]), BASE_POINT)
        check(f"{where} route[{i}].publicKey = X25519(privateKey, 9)", public, hop["publicKey"])
        route.append(sphinx.RouteHop(hop["id"], h(hop["publicKey"]), hop.get("delayMs", 0)))
    return route


KEY_FIELDS = [
    ("sharedSecret", "shared_secret"),
    ("headerMacKey", "header_mac_key"),
    ("routingKey", "routing_key"),
    ("blindingFactor", "blinding_factor"),
    ("payloadKey", "payload_key"),
    ("replayTag", "replay_tag"),
]


def check_keys(where: str, keys: sphinx.HopKeys, want: dict) -> None:
    for field, attr in KEY_FIELDS:
        check(f"{where}.{field}", getattr(keys, attr), want[field])


def check_hops(g: sphinx.Geometry, case: dict, where: str, packet: bytes, client_keys: list) -> list:
    """Peels packet hop by hop with each node's private key; returns the Peeled results."""
    results = []
    for i, want in enumerate(case["hops"]):
        at = f"{where} hops[{i}]"
        check_keys(f"{at} (client side)", client_keys[i], want)
        try:
            peeled = sphinx.peel(g, h(case["route"][i]["privateKey"]), packet)
        except (sphinx.PacketError, ValueError) as e:
            mismatches.append(f"{at}: peel failed: {e}")
            return results
        check_keys(f"{at} (node side)", peeled.keys, want)
        check(f"{at}.delayMs", peeled.delay_ms, want["delayMs"])
        last = i == len(case["hops"]) - 1
        check(f"{at} kind", peeled.kind, "deliver" if last else "forward")
        if peeled.kind == "forward":
            check(f"{at}.nextHop", peeled.next_hop, want.get("nextHop"))
            check(f"{at}.packet", peeled.packet, want.get("packet"))
            packet = peeled.packet
        else:
            check(f"{at}.gateway", peeled.gateway, want.get("gateway"))
            check(f"{at}.recipient", peeled.recipient, want.get("recipient"))
            check(f"{at}.payload", peeled.payload, want.get("payload"))
        results.append(peeled)
    return results


def case_inputs(case: dict, where: str):
    """The geometry, route, recorded randomness and destination (gateway, recipient) of a case."""
    g = sphinx.geometry(case["geometry"]["maxHops"], case["geometry"]["payloadBytes"])
    dest = case["destination"]
    return g, route_of(case, where), sphinx.Randomness(h(case["randomness"])), dest["gateway"], h(dest["recipient"])


def verify_forward(case: dict, where: str) -> None:
    g, route, rng, gateway, recipient = case_inputs(case, where)
    packet, header = sphinx.wrap(g, route, gateway, recipient, h(case["message"]), rng)
    rng.done()
    check(f"{where} packet ({g.packet} bytes)", packet, case["packet"])
    check(f"{where} hop count", len(case["hops"]), len(route))
    # peel the committed packet, so a wrap mismatch does not hide the peel checks
    results = check_hops(g, case, where, h(case["packet"]), header.keys)
    if results and results[-1].kind == "deliver":
        check(f"{where} delivered message", results[-1].payload, case["message"])


def verify_reply(case: dict, where: str) -> None:
    g, route, rng, gateway, recipient = case_inputs(case, where)
    block, secret, header = sphinx.create_reply_block(g, route, gateway, recipient, rng)
    rng.done()
    check(f"{where} block ({g.reply_block} bytes)", block, case["block"])
    check(f"{where} secret.id", secret.id, case["secret"]["id"])
    check(f"{where} secret.keys", secret.keys, case["secret"]["keys"])
    first, packet = sphinx.wrap_reply(g, h(case["block"]), h(case["message"]))
    check(f"{where} firstHop", first, case["firstHop"])
    check(f"{where} packet ({g.packet} bytes)", packet, case["packet"])
    check(f"{where} hop count", len(case["hops"]), len(route))
    results = check_hops(g, case, where, h(case["packet"]), header.keys)
    if results:
        rid = sphinx.reply_id(g, results[-1].payload)
        check(f"{where} replyId", rid if rid is not None else "none", case["replyId"])
    secret_in_vector = sphinx.ReplySecret(h(case["secret"]["id"]), h(case["secret"]["keys"]))
    check(f"{where} opened", sphinx.open_reply(g, secret_in_vector, h(case["hops"][-1]["payload"])), case["opened"])
    check(f"{where} opened = message", case["opened"], case["message"])


def verify_file(path: Path, verify_case) -> int:
    """Runs verify_case on every case of a vector file; an exception is a mismatch, not a crash."""
    doc = json.loads(path.read_text())
    for case in doc["cases"]:
        where = f"{path.name} '{case['name']}'"
        try:
            verify_case(case, where)
        except (sphinx.PacketError, ValueError, KeyError, IndexError) as e:
            mismatches.append(f"{where}: {type(e).__name__}: {e}")
    return len(doc["cases"])


def main(argv: list) -> int:
    if sys.version_info < (3, 9):
        print(f"the second Sphinx implementation needs Python 3.9 or later, not {sys.version.split()[0]}")
        return 2
    args = [a for a in argv[1:] if a != "--vectors-only"]
    rfc = len(args) == len(argv) - 1
    forward_path = Path(args[0]) if args else VECTORS / "sphinx.json"
    reply_path = Path(args[1]) if len(args) > 1 else VECTORS / "sphinx-reply.json"
    started = time.monotonic()
    if rfc:
        check_rfc7748()
        check_rfc8439()
    forward = verify_file(forward_path, verify_forward)
    reply = verify_file(reply_path, verify_reply)
    seconds = time.monotonic() - started
    if mismatches:
        print(f"{len(mismatches)} of {checked} checks FAILED (second Sphinx implementation, docs/sphinx.md):")
        for m in mismatches:
            print(f"  {m}")
        return 1
    known_answers = "RFC 7748 + RFC 8439 known answers, " if rfc else ""
    print(
        f"ok: {checked} checks, {known_answers}{forward} forward and {reply} reply vectors"
        f" reproduced from docs/sphinx.md ({seconds:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
