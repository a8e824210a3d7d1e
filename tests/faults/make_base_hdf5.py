#!/usr/bin/python3
"""Writes the undamaged base files of the HDF5 corruption fuzz: usage make_base_hdf5.py <dir>."""
import os
import sys

import h5py
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)


def frames(n, dtype):
    d = rng.normal(150, 10, size=(n, 2, 8, 16)).clip(0, 1000).astype(dtype)
    d[:, 0, 0, 0] = 20000 if dtype != np.int16 else 16500  # a hot pixel
    d[:, 1, 3, 3] = 0  # a dead pixel
    return d


with h5py.File(os.path.join(out, 'contig-u16.h5'), 'w') as f:
    f.create_dataset('/entry/data/epix', data=frames(24, np.uint16))
with h5py.File(os.path.join(out, 'gzip-u16.h5'), 'w') as f:
    f.create_dataset('/entry/data/epix', data=frames(24, np.uint16), chunks=(4, 2, 8, 16), compression='gzip')
with h5py.File(os.path.join(out, 'shuffle-gzip-i16.h5'), 'w') as f:
    f.create_dataset('/entry/data/jungfrau', data=frames(24, np.int16), chunks=(2, 2, 8, 16), compression='gzip', shuffle=True)
with h5py.File(os.path.join(out, 'contig-f32.h5'), 'w') as f:
    f.create_dataset('/entry/data/cspad', data=frames(24, np.float32))
print('ok')
