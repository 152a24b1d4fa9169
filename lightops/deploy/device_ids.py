"""Recording-device ids of audio files, read from the tables DCASE ships, for device-aware prediction.

Three layouts are read (the delimiter, tab or comma, is taken from the first line):

- TAU's ``meta.csv``: tab-separated with a header, ``filename`` and ``source_label`` (the device) among its columns;
- an ``evaluation_setup`` file (DCASE 2025's evaluation set): a header with ``filename`` and ``device_id``;
- a plain two-column table ``filename,device``, with or without that header.

File names are matched as written in the prediction CSV (``audio/airport-lisbon-1000-40000-a.wav``), else by their
base name, so a table of ``audio/...`` paths serves files given one by one too.
"""
import csv
import os
from typing import Dict, Mapping, Optional

from ..fileio import PathLike

__all__ = ["DEVICE_COLUMNS", "read_device_ids", "device_index", "device_of"]

DEVICE_COLUMNS = ("device_id", "source_label", "device")
"""Header names of the device column, in the order they are looked for."""


def read_device_ids(path: PathLike) -> Dict[str, str]:
    """``{filename: device id}`` from a TAU ``meta.csv``, an ``evaluation_setup`` file or a ``filename,device`` table.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no ``filename`` and device column (:data:`DEVICE_COLUMNS`) in the header, and not two columns.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"device-id file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as e:
        raise ValueError(f"device-id file {path} is not UTF-8 text ({e.reason} at byte {e.start}): expected a TAU "
                         f"meta.csv, an evaluation_setup file or a filename,device table") from None
    first = text.split("\n", 1)[0]
    rows = [r for r in csv.reader(text.splitlines(), delimiter="\t" if "\t" in first else ",") if r]
    if not rows:
        raise ValueError(f"{path}: the device-id file is empty")
    head = [c.strip() for c in rows[0]]
    if "filename" in head:
        column = next((c for c in DEVICE_COLUMNS if c in head), None)
        if column is None:
            raise ValueError(f"{path}: expected a device column ({', '.join(DEVICE_COLUMNS)}) beside 'filename' in "
                             f"the header, got {head}")
        i, j = head.index("filename"), head.index(column)
        body = rows[1:]
    elif len(head) == 2:
        i, j, body = 0, 1, rows
    else:
        raise ValueError(f"{path}: expected a header with 'filename' and one of {list(DEVICE_COLUMNS)}, or two "
                         f"columns filename,device; got {head}")
    return {r[i].strip(): r[j].strip() for r in body if len(r) > max(i, j) and r[i].strip() and r[j].strip()}


def device_index(device_ids: Mapping[str, str]) -> Dict[str, str]:
    """``device_ids`` with every base name added that names one device only (for :func:`device_of`)."""
    by_base: Dict[str, set] = {}
    for name, device in device_ids.items():
        by_base.setdefault(os.path.basename(name), set()).add(device)
    index = {base: devices.pop() for base, devices in by_base.items() if len(devices) == 1}
    index.update(device_ids)
    return index


def device_of(filename: str, index: Mapping[str, str]) -> Optional[str]:
    """The device id of ``filename`` (as written in the prediction CSV), else of its base name, in a
    :func:`device_index`; None if unknown."""
    return index.get(filename) or index.get(os.path.basename(filename))
