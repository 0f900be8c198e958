# Rehearsal submission: crashes the interpreter at import with a segmentation fault (a read of address 8), the
# way a bad C extension or ctypes call does. Nothing to cap: it dies at once.
import ctypes

ctypes.c_int.from_address(8).value
