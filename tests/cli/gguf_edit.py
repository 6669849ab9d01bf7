"""gguf_edit.py - a small GGUF reader/writer for tests: parse a real file into (kvs, tensors,
data), change something, and write it back, to make damaged or incomplete models on purpose.
Test-only and independent of the C implementation it checks."""
import struct

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.buf[self.pos:self.pos + n]
        self.pos += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return (et, [self.value(et) for _ in range(n)])
        return self.take(SCALAR[t])


def parse(buf):
    r = Reader(buf)
    assert buf[:4] == b"GGUF"
    r.pos = 4
    version, n_t, n_kv = r.take("<I"), r.take("<Q"), r.take("<Q")
    kvs = []
    for _ in range(n_kv):
        k = r.string()
        t = r.take("<I")
        kvs.append([k, t, r.value(t)])
    tensors = []
    for _ in range(n_t):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        tensors.append({"name": name, "ne": ne, "type": r.take("<I"), "offset": r.take("<Q")})
    align = 32
    for k, t, v in kvs:
        if k == b"general.alignment":
            align = v
    start = (r.pos + align - 1) // align * align
    return {"version": version, "kvs": kvs, "tensors": tensors, "data": buf[start:], "align": align}


# (elements per block, bytes per block) of the types tests use
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
          10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}


def tensor_data(g, t):
    """The bytes of tensor t (an entry of g["tensors"])."""
    elems, size = BLOCKS[t["type"]]
    n = 1
    for x in t["ne"]:
        n *= x
    return g["data"][t["offset"]:t["offset"] + n // elems * size]


def _value(t, v):
    if t == 8:
        return struct.pack("<Q", len(v)) + v
    if t == 9:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(_value(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def write(g):
    out = bytearray(b"GGUF" + struct.pack("<IQQ", g["version"], len(g["tensors"]), len(g["kvs"])))
    for k, t, v in g["kvs"]:
        out += struct.pack("<Q", len(k)) + k + struct.pack("<I", t) + _value(t, v)
    for ti in g["tensors"]:
        out += struct.pack("<Q", len(ti["name"])) + ti["name"] + struct.pack("<I", len(ti["ne"]))
        out += b"".join(struct.pack("<Q", x) for x in ti["ne"])
        out += struct.pack("<IQ", ti["type"], ti["offset"])
    out += b"\0" * ((-len(out)) % g["align"])
    return bytes(out + g["data"])
