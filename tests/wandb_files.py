"""What wandb wrote offline, read back without wandb's service."""

from pathlib import Path


def wandb_records(path: Path) -> list:
    """The records of a wandb run file (`run-*.wandb`, offline mode): wandb's protobuf messages in
    a leveldb-style log (7-byte file header, 32 KiB blocks, each record: crc, length, type)."""
    from wandb.proto import wandb_internal_pb2 as pb

    raw, header, block = Path(path).read_bytes(), 7, 32768
    assert raw[:4] == b":W&B", f"{path} is not a wandb run file"
    records, pos, parts = [], header, b""
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # too little room left in the block for a record header: padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(raw[pos + 4 : pos + 6], "little"), raw[pos + 6]
        if kind == 0:
            break
        parts += raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last part of one
            record = pb.Record()
            record.ParseFromString(parts)
            records.append(record)
            parts = b""
    return records
