"""fileio.SpillFile: arrays kept out of memory between being made and used
(the sums kept for the next row of windows, the rows decoded for the next
strip of a scene)."""
import numpy as np
import pytest

from mmseg_sia.fileio import SpillFile


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_arrays_come_back_as_written_at_their_offsets(seed):
    rng = np.random.default_rng(seed)
    spill = SpillFile('test arrays')
    slots = {}
    for _ in range(30):
        # Rewrite slots in any order, of any dtype, some empty.
        slot = int(rng.integers(0, 6))
        kind = int(rng.integers(0, 3))
        shape = tuple(rng.integers(0, 9, 3))
        a = rng.normal(size=shape).astype(np.float32)
        a = [a, (a * 50).astype(np.uint8), a > 0][kind]
        spill.write(slot * 4096, a)
        slots[slot] = a
        for s, want in slots.items():
            got = np.empty_like(want)
            spill.read_into(s * 4096, got)
            np.testing.assert_array_equal(got, want)
            if want.dtype == np.float32:  # the same floats, to the bit
                assert got.tobytes() == want.tobytes()
    spill.close()


def test_reading_past_the_end_names_what_was_kept():
    spill = SpillFile('the rows of scene.tif decoded for the next strip')
    spill.write(0, np.ones(10, np.uint8))
    with pytest.raises(OSError, match='could not read back the rows of '
                       'scene.tif decoded for the next strip in a temporary '
                       'file in .*ended early'):
        spill.read_into(4, np.empty(10, np.uint8))
    spill.close()


def test_no_folder_for_the_file_says_what_and_how(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'missing'))
    with pytest.raises(OSError, match='could not make a temporary file in '
                       '.*missing for the sums kept .*set TMPDIR to a '
                       'writable folder'):
        SpillFile('the sums kept for the next row of windows')
