"""The terminal progress bar: exact output when drawn, silence when it must be silent."""

import io

import pytest

from tinytorch.progress import ProgressBar, format_bytes, track


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self):
        return True


def test_draws_bar_percentage_and_counts_on_a_terminal():
    stream = FakeTerminal()
    bar = ProgressBar(total=10, description="epoch 1", width=10, stream=stream, min_interval=0)
    bar.update(5)
    assert stream.getvalue() == "\repoch 1 [#####-----]  50% 5/10"
    bar.update(5, status="loss 0.25")
    bar.close()
    assert stream.getvalue().endswith("\repoch 1 [##########] 100% 10/10 loss 0.25\n")


def test_quiet_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    with ProgressBar(total=3, stream=stream, min_interval=0) as bar:
        bar.update(3)
    assert stream.getvalue() == ""


def test_force_draws_even_when_not_a_terminal():
    stream = io.StringIO()
    with ProgressBar(total=4, stream=stream, width=4, force=True, min_interval=0) as bar:
        bar.update(1)
    assert stream.getvalue() == "\r[#---]  25% 1/4\r[#---]  25% 1/4\n"


def test_disabled_writes_nothing_even_when_forced_on_a_terminal():
    stream = FakeTerminal()
    with ProgressBar(total=4, stream=stream, enabled=False, force=True, min_interval=0) as bar:
        bar.update(4)
    assert stream.getvalue() == ""


def test_byte_counts_are_formatted_as_sizes():
    bar = ProgressBar(total=9_912_422, description="train-images", unit="B", width=4)
    bar.update(4_956_211)
    assert bar.render() == "train-images [##--]  50% 5.0 MB/9.9 MB"


@pytest.mark.parametrize(
    "count, text",
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (28_881, "28.9 KB"), (9_912_422, "9.9 MB"), (3e12, "3.0 TB")],
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text


def test_unknown_total_shows_the_count_and_unit():
    bar = ProgressBar(total=None, description="reading", unit="batches")
    bar.update(12)
    assert bar.render() == "reading 12 batches"


def test_a_shorter_line_is_padded_to_cover_the_previous_one():
    stream = FakeTerminal()
    bar = ProgressBar(total=None, stream=stream, min_interval=0)
    bar.update(1, status="a long status")
    bar.update(1, status="short")
    assert stream.getvalue() == "\r1 a long status" + "\r2 short" + " " * 8


def test_redraws_are_rate_limited_but_the_final_state_is_always_drawn():
    stream = FakeTerminal()
    with ProgressBar(total=100, stream=stream, width=4, min_interval=3600) as bar:
        for _ in range(100):
            bar.update(1)
    assert stream.getvalue() == "\r[----]   1% 1/100\r[####] 100% 100/100\n"


def test_close_twice_ends_the_line_once():
    stream = FakeTerminal()
    bar = ProgressBar(total=1, stream=stream, min_interval=0)
    bar.close()
    bar.close()
    assert stream.getvalue().count("\n") == 1


def test_negative_total_is_rejected():
    with pytest.raises(ValueError, match="total must be >= 0 or None, got -1"):
        ProgressBar(total=-1)


def test_track_yields_every_item_and_counts_them():
    stream = FakeTerminal()
    items = list(track(["a", "b", "c"], "letters", stream=stream, width=3, min_interval=0))
    assert items == ["a", "b", "c"]
    assert stream.getvalue().endswith("\rletters [###] 100% 3/3\n")


def test_track_closes_the_bar_when_the_loop_stops_early():
    stream = FakeTerminal()
    for item in track(range(10), stream=stream, width=10, min_interval=3600):
        if item == 2:
            break
    assert stream.getvalue().endswith("\r[##--------]  20% 2/10\n")
