#!/usr/bin/python3
"""spm_model.py - tests/data/spm/tokenizer.model, written from tokenizer.vocab instead of kept in git.

The fixture was a SentencePiece BPE model with byte fallback trained by make_arch_fixtures.py's
spm_fixture (sentencepiece 0.2); its expected ids (expected.json) come from sentencepiece itself.
This writes the same ModelProto (protobuf wire format, standard library only) from the piece list
and scores of tokenizer.vocab: every piece with its score and type (<unk> UNKNOWN, <s> and </s>
CONTROL, <0xNN> BYTE, the rest NORMAL), the trainer spec the model was trained with (BPE, 600
pieces, character coverage 1.0, byte fallback) and the normalizer's name (nmt_nfkc). It leaves out
the normalizer's precompiled character map (~240 KB of tables), which our converter does not read
(src/convert/spm_model.c); the file is otherwise field for field the trained one.
usage: spm_model.py tokenizer.vocab tokenizer.model
"""
import re
import struct
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def key(num, wire):
    return varint(num << 3 | wire)


def field_bytes(num, data):
    return key(num, 2) + varint(len(data)) + data


def field_varint(num, v):
    return key(num, 0) + varint(v)


def field_float(num, v):
    return key(num, 5) + struct.pack("<f", v)


def piece_type(piece):
    if piece == "<unk>":
        return 2
    if piece in ("<s>", "</s>"):
        return 3
    if re.fullmatch(r"<0x[0-9A-F]{2}>", piece):
        return 6
    return 1  # NORMAL: the default, not written


def write_model(vocab_path, model_path):
    proto = bytearray()
    n = 0
    with open(vocab_path, encoding="utf-8") as f:
        for line in f:
            piece, score = line.rstrip("\n").split("\t")
            body = field_bytes(1, piece.encode("utf-8")) + field_float(2, float(score))
            t = piece_type(piece)
            if t != 1:
                body += field_varint(3, t)
            proto += field_bytes(1, body)
            n += 1
    trainer = (field_bytes(2, b"/tmp/o/spm/tokenizer") + field_varint(3, 2) + field_varint(4, n) +
               field_float(10, 1.0) + field_varint(33, 0) + field_varint(35, 1))
    proto += field_bytes(2, trainer) + field_bytes(3, field_bytes(1, b"nmt_nfkc"))
    with open(model_path, "wb") as f:
        f.write(proto)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    write_model(sys.argv[1], sys.argv[2])
