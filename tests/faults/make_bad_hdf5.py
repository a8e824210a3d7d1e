#!/usr/bin/python3
"""Writes the damaged and unusual HDF5 run files of the pixel-status fault tests.

usage: make_bad_hdf5.py <run-dir> <experiment>
One run per case, named <exp>-r<NNNN>-s<SS>-c00.h5; prints "<run> <case>" lines.
Needs Debian's python3-h5py and python3-numpy (run it with /usr/bin/python3).
"""
import os
import sys

import h5py
import numpy as np

out, exp = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20261124)
DS = '/entry/data/epix'


def name(run, stream=0):
    return os.path.join(out, f'{exp}-r{run:04d}-s{stream:02d}-c00.h5')


def frames(n=20, shape=(2, 8, 16), dtype=np.uint16):
    return rng.integers(100, 200, size=(n,) + shape).astype(dtype)


def write(path, data=None, **kw):
    with h5py.File(path, 'w') as f:
        if data is None:
            f.create_dataset(DS, **kw)
        else:
            f.create_dataset(DS, data=data, **kw)


def cut(path, keep):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:keep(len(data))])


def corrupt(path, where):
    b = bytearray(open(path, 'rb').read())
    at = int(len(b) * where)
    b[at:at + 200] = bytes(rng.integers(0, 256, 200, dtype=np.uint8))
    open(path, 'wb').write(bytes(b))


cases = {}
write(name(1), frames()); cases[1] = 'good'
write(name(2), frames()); cut(name(2), lambda n: n // 2); cases[2] = 'truncated'
write(name(3), frames(), chunks=(4, 2, 8, 16), compression='gzip'); corrupt(name(3), 2 / 3); cases[3] = 'corrupt-gzip'
open(name(4), 'wb').close(); cases[4] = 'empty'
open(name(5), 'wb').write(bytes(rng.integers(0, 256, 5000, dtype=np.uint8))); cases[5] = 'garbage'
write(name(6), np.zeros((8, 16), np.uint16)); cases[6] = 'rank2'
write(name(7), np.zeros((5, 8, 16), np.float64)); cases[7] = 'float64'
write(name(8), None, shape=(0, 8, 16), dtype=np.uint16, maxshape=(None, 8, 16), chunks=(1, 8, 16)); cases[8] = 'noframes'
with h5py.File(name(9), 'w') as f:
    d = f.create_dataset(DS, shape=(50, 8, 16), dtype=np.uint16, chunks=(1, 8, 16))
    d[:10] = frames(10, (8, 16))
cases[9] = 'unwritten-chunks'
write(name(10), None, shape=(10**9, 1000, 1000), dtype=np.uint16, chunks=(1, 100, 100)); cases[10] = 'huge-dims'
write(name(11, 0), frames()); write(name(11, 1), frames(), chunks=(4, 2, 8, 16), compression='gzip'); cut(name(11, 1), lambda n: n * 3 // 4); cases[11] = 'second-stream-truncated'
write(name(12), frames()); cut(name(12), lambda n: 300); cases[12] = 'truncated-header'
write(name(13), np.zeros((5, 8, 16), np.int8)); cases[13] = 'int8'
with h5py.File(name(14), 'w') as f:
    f.create_dataset('/entry/data/names', data=np.array([b'abc'] * 5))
cases[14] = 'strings'
for run, case in cases.items():
    print(run, case)
