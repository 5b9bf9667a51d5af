#!/usr/bin/env python3
"""Independent re-implementation of the Rng algorithm, written from the TSDoc of src/rng.ts only.

Prints the reference draws that test/rng.test.ts pins as literals. Run: python3 rng_reference.py
"""
import json
import math

M32 = 0xFFFFFFFF
FNV_PRIME = 0x01000193  # the FNV-32 prime, 16777619
PHI = 0x9E3779B9  # golden-ratio constant of SplitMix32


def fnv1a32(data: bytes, basis: int) -> int:
    h = basis
    for byte in data:
        h ^= byte
        h = (h * FNV_PRIME) & M32
    return h


def seed_key(key: str):
    data = key.encode("utf-8")
    return fnv1a32(data, 0x811C9DC5), fnv1a32(data, (0x01000193 ^ 0x5BD1E995) & M32)


def rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M32


class Rng:
    def __init__(self, seed):
        key = seed if isinstance(seed, str) else str(int(seed))  # a number is keyed as its decimal string
        h0, h1 = seed_key(key)
        x = (h0 ^ ((h1 * PHI) & M32)) & M32
        words = []
        for _ in range(4):
            x = (x + PHI) & M32
            z = x
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & M32
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
            z ^= z >> 16
            words.append(z)
        words[1] ^= h1
        words[3] ^= h1
        self.s = words
        self.spare = None

    def next_uint32(self) -> int:
        s0, s1, s2, s3 = self.s
        result = (rotl((s1 * 5) & M32, 7) * 9) & M32
        t = (s1 << 9) & M32
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 11)
        self.s = [s0, s1, s2, s3]
        return result

    def uniform(self) -> float:
        a = self.next_uint32()
        b = self.next_uint32()
        return ((a >> 5) * 2**26 + (b >> 6)) / 2**53

    def normal(self) -> float:
        if self.spare is not None:
            s, self.spare = self.spare, None
            return s
        u1 = 1 - self.uniform()
        u2 = self.uniform()
        r = math.sqrt(-2 * math.log(u1))
        self.spare = r * math.sin(2 * math.pi * u2)
        return r * math.cos(2 * math.pi * u2)

    def int(self, n: int) -> int:
        limit = (2**32 // n) * n
        while True:
            x = self.next_uint32()
            if x < limit:
                return x % n

    def permutation(self, n: int):
        a = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.int(i + 1)
            a[i], a[j] = a[j], a[i]
        return a


def main():
    out = {}
    for seed in [0, 42, "run:img-7"]:
        r = {}
        g = Rng(seed)
        r["uint32"] = [g.next_uint32() for _ in range(8)]
        g = Rng(seed)
        r["uniform"] = [repr(g.uniform()) for _ in range(5)]
        g = Rng(seed)
        r["normal"] = [repr(g.normal()) for _ in range(6)]
        g = Rng(seed)
        r["int10"] = [g.int(10) for _ in range(10)]
        g = Rng(seed)
        r["int3e9"] = [g.int(3_000_000_000) for _ in range(8)]
        g = Rng(seed)
        r["perm10"] = g.permutation(10)
        out[str(seed)] = r
    out["seedKey"] = {k: [hex(v) for v in seed_key(k)] for k in ["", "a", "foobar", "0", "42", "run:img-7", "é"]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
