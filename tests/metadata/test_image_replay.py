"""Kafka's image-test style: replay random valid record scripts through every intermediate
image and compare with one-shot replay, snapshots and the untouched earlier images."""

from __future__ import annotations

from hypothesis import given

from kraft.metadata.delta import MetadataDelta
from kraft.metadata.image import EMPTY, MetadataImage, Provenance
from kraft.metadata.records import decode, encode
from kraft.metadata.snapshot import image_to_records, load_snapshot
from tests.metadata.strategies import Step, record_scripts


def one_delta(base: MetadataImage, steps: list[Step]) -> MetadataImage:
    delta = MetadataDelta(base)
    for step in steps:
        delta.replay(step.record, step.offset, step.epoch)
    return delta.apply()


def intermediate_images(steps: list[Step]) -> list[MetadataImage]:
    """EMPTY, then the image after each step, each built by a delta of one record."""
    images = [EMPTY]
    for step in steps:
        images.append(one_delta(images[-1], [step]))
    return images


@given(record_scripts())
def test_one_delta_per_record_equals_one_delta_for_all(steps: list[Step]) -> None:
    """Replaying one delta per record through every intermediate image equals one big delta."""
    assert intermediate_images(steps)[-1] == one_delta(EMPTY, steps)


@given(record_scripts())
def test_any_split_point_gives_the_same_image(steps: list[Step]) -> None:
    """Replaying a prefix, applying, then the rest gives the same image as all at once."""
    whole = one_delta(EMPTY, steps)
    for split in range(0, len(steps) + 1, 3):
        assert one_delta(one_delta(EMPTY, steps[:split]), steps[split:]) == whole


@given(record_scripts())
def test_snapshot_round_trip_at_every_image(steps: list[Step]) -> None:
    """image -> records -> encode/decode -> replay on EMPTY gives the same image, every step."""
    for image in intermediate_images(steps):
        records = [decode(encode(record)) for record in image_to_records(image)]
        assert load_snapshot(records, image.provenance) == image


@given(record_scripts())
def test_snapshot_then_tail_equals_full_replay(steps: list[Step]) -> None:
    """Loading a snapshot of a prefix and replaying the tail equals replaying everything."""
    whole = one_delta(EMPTY, steps)
    half = len(steps) // 2
    prefix = one_delta(EMPTY, steps[:half])
    restored = load_snapshot(image_to_records(prefix), prefix.provenance)
    assert one_delta(restored, steps[half:]) == whole


@given(record_scripts())
def test_earlier_images_never_change(steps: list[Step]) -> None:
    """Applying later deltas leaves every earlier image exactly as it was."""
    images: list[MetadataImage] = []
    fingerprints: list[tuple[Provenance, list[bytes]]] = []
    image = EMPTY
    for step in steps:
        images.append(image)
        fingerprints.append((image.provenance, [encode(r) for r in image_to_records(image)]))
        image = one_delta(image, [step])
    for earlier, (provenance, records) in zip(images, fingerprints, strict=True):
        assert earlier.provenance == provenance
        assert [encode(r) for r in image_to_records(earlier)] == records


@given(record_scripts())
def test_apply_does_not_end_the_delta(steps: list[Step]) -> None:
    """A delta may keep replaying after apply(); each apply reflects everything so far."""
    delta = MetadataDelta(EMPTY)
    for i, step in enumerate(steps):
        delta.replay(step.record, step.offset, step.epoch)
        if i % 4 == 0:
            assert delta.apply() == one_delta(EMPTY, steps[: i + 1])
    assert delta.apply() == one_delta(EMPTY, steps)


@given(record_scripts())
def test_snapshot_records_are_deterministic(steps: list[Step]) -> None:
    """Equal images write identical snapshot records (one-shot vs step-by-step image)."""
    assert image_to_records(one_delta(EMPTY, steps)) == image_to_records(
        intermediate_images(steps)[-1]
    )
