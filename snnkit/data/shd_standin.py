"""SHD STAND-IN: spoken digits synthesised with ``espeak-ng`` and turned into spikes by a cochlear model.

The Spiking Heidelberg Digits (Cramer, Stradmann, Schemmel & Zenke, "The Heidelberg Spiking Data Sets
for the Systematic Evaluation of Spiking Neural Networks", IEEE TNNLS 2022, doi 10.1109/TNNLS.2020.3044364)
cannot be had offline here (DESIGN.md → Data). This module makes a learnable imitation **in SHD's own
HDF5 schema**, so that the real SHD reader reads it; every file carries the root attribute
``SNNKIT_STAND_IN`` and every dataset read from it is labelled a stand-in. Its numbers are never
compared with a paper's.

Recipe (deterministic: a split's plan — words, speakers, renditions — comes from a generator seeded
by ``(seed, split)``, utterance ``i``'s spike noise from one seeded by ``(seed, split, i)``, so any
utterance can be remade alone):

1. **Words**: 20 classes in SHD's order: labels 0–9 the English "zero" … "nine", 10–19 the German
   "null" … "neun" (:data:`CLASSES`).
2. **Speakers** (:func:`make_speakers`): each is an ``espeak-ng`` voice variant (``m1``, ``f3``,
   ``klatt2``, ``Annie``, ... — :data:`VARIANTS`) with its own English accent (one of
   :data:`ENGLISH_VOICES`; German is always ``de``), base pitch, base speed and a vocal-tract factor
   ``warp`` (0.88–1.12: the audio is resampled so that all its frequencies scale by ``warp``, as a
   shorter or longer vocal tract would). Like SHD, whose test set holds two speakers never heard in
   training, a fraction of the speakers (:data:`HELD_OUT_FRACTION`) speak only in the test split, and
   half of the test utterances come from them; the other test utterances come from training speakers
   (new random renditions).
3. **Rendition**: pitch = base (25–75) ± 8 on espeak's 0–99 scale, speed = base (95–165 words per
   minute) × 0.85–1.15, level ± 6 dB, white noise at 20–40 dB SNR, 30–250 ms of leading silence (time
   jitter).
4. **Cochlea** (:func:`cochleagram`): 16 kHz audio through a bank of 700 fourth-order gammatone filters
   (``scipy.signal.gammatone``, FIR, 64 ms long; centre frequencies evenly spaced on the ERB-number scale
   of Glasberg & Moore 1990 from 50 Hz to 7.5 kHz; unit 0 is the lowest frequency), applied at once by
   FFT; half-wave rectification; 0.5 ms box-car + 1 ms one-pole low-pass (the inner hair cell's loss of
   phase locking at high frequencies); compression to dB.
5. **Spikes** (:func:`spikes_from_envelope`): the level above a threshold, over a 40 dB dynamic range,
   sets a rate of 0–:data:`MAX_RATE` Hz; each channel is an integrate-and-fire unit with a random
   initial phase that fires on every whole unit of integrated rate (crossing times interpolated within
   the 0.5 ms step), plus 0.2 ms Gaussian jitter. Times are stored in seconds, sorted.

File schema (as the official ``shd_train.h5`` / ``shd_test.h5``): ``spikes/times`` (vlen float16,
seconds: ~0.5 ms resolution below 1 s, enough for 1 ms bins, and half the size of float32), ``spikes/units`` (vlen uint16, 0–699), ``labels`` (uint16), ``extra/speaker`` (uint16),
``extra/keys`` (the 20 class names), ``extra/meta_info/gender`` (per speaker), plus the stand-in's own
``extra/meta_info/voice`` and the root attribute ``SNNKIT_STAND_IN`` (what this is, how it was made).

Registered datasets (:func:`snnkit.data.load_dataset`; options ``dt``, ``max_time``, ``pool`` as the
real ``shd``, plus ``directory`` and ``seed``), both read by the real reader
(:func:`snnkit.data.shd.shd_dataset`), so ``stand_in`` is True and ``source`` says STAND-IN:

- ``shd-standin-small``: 600 train / 200 test, shipped as ``snnkit/data/embedded/shd_standin/
  shd_{train,test}.h5.xz`` (4.5 MB; xz compresses these files to a third, gzip only to a half) with a
  ``manifest.json`` of their SHA-256; on first use decompressed (verified) into
  ``cache_dir()/standins/shd-standin-small-<sha>/``. No espeak-ng needed: smoke runs and CI. Made by
  ``python scripts/make_shd_standin.py --small`` (espeak-ng 1.51, seed 0).
- ``shd-standin``: SHD-sized, 8156 train / 2264 test, built into ``cache_dir()/standins/
  shd-standin-v<version>-seed<seed>/`` on first use where espeak-ng is installed, else a DataError
  saying how to build it (``python scripts/make_shd_standin.py``). Measured build: 19 min of CPU
  (espeak-ng and the read-out included; 30 min wall on a shared 2-core machine), 126 + 37 MB of HDF5.

Measured (seed 0, espeak-ng 1.51). Spikes per sample: 3700 on average (5–95 %: 1500–7000; SHD: several
thousand); activity from 0.15 s to 0.65 s on average, the latest at 1.5 s. Linear read-out
(:func:`linear_readout_accuracy`: sklearn ``LogisticRegression``, C = 1, on standardised log(1 + count)
features; chance 5 %):

============================  =====================  =====================
features                      small (600 → 200)      SHD-sized (8156 → 2264)
============================  =====================  =====================
spike count per channel       53.5 %                 56.1 % (held-out speakers 52.2 %, seen 60.1 %)
counts in 4 time bins         73.0 %                 79.5 % (held-out speakers 74.8 %, seen 84.2 %)
============================  =====================  =====================

Learnable, far from trivial for a linear read-out: much of a word lies in the temporal order of its
spectra (as in SHD), and the held-out voices cost 8–10 points. Language alone is read right in 75 %
(counts) / 88 % (4 bins) of the test samples.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path

import numpy as np

from snnkit.data import root as _root
from snnkit.data.images import STAND_IN_MARKER as MARKER_ATTR
from snnkit.data.registry import DatasetSpec, register_dataset
from snnkit.errors import ConfigError, DataError

log = logging.getLogger(__name__)

__all__ = [
    "CLASSES",
    "EMBEDDED_DIR",
    "FILES",
    "MARKER_ATTR",
    "SHD_SIZES",
    "SMALL_SIZES",
    "Rendition",
    "Speaker",
    "build_shd_standin",
    "channel_frequencies",
    "cochleagram",
    "count_features",
    "default_build_dir",
    "espeak_available",
    "espeak_version",
    "linear_readout_accuracy",
    "make_speakers",
    "plan_split",
    "read_standin_file",
    "render",
    "spikes_from_envelope",
    "standin_root",
    "synthesise",
    "utterance_spikes",
    "write_embedded",
    "write_shd_file",
]

#: Bumped whenever the builder's output changes, so stale cached builds are not reused.
BUILDER_VERSION = 1
#: SHD's 20 classes in its label order: English digits 0-9, then German digits 0-9.
CLASSES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
)
#: SHD's sample counts (train, test) and the shipped small set's.
SHD_SIZES = (8156, 2264)
SMALL_SIZES = (600, 200)
FILES = ("shd_train.h5", "shd_test.h5")
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded" / "shd_standin"

N_CHANNELS = 700
SAMPLE_RATE = 16_000
ESPEAK_RATE = 22_050  # espeak-ng's output rate
F_LOW, F_HIGH = 50.0, 7500.0
FIR_TAPS = 1024  # 64 ms at 16 kHz: the 50 Hz filter has decayed to < 1 % of its peak by then
DECIMATE = 8  # envelope at 2 kHz
ENV_DT = DECIMATE / SAMPLE_RATE
SMOOTH_TAU = 1e-3  # s, the one-pole low-pass after rectification
MAX_RATE = 120.0  # Hz, the rate at the top of the dynamic range
THRESHOLD_DB = -58.0  # envelope level (dB re full scale after normalisation) where firing starts
DYNAMIC_RANGE_DB = 40.0
JITTER = 2e-4  # s, Gaussian jitter of every spike time
RMS = 0.05  # the audio's RMS before the random level change
HELD_OUT_FRACTION = 0.2
N_SPEAKERS = 60

#: ``espeak-ng`` voices reading the English words (accents); German is read by ``de``.
ENGLISH_VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                  "en-029", "en-us-nyc")
GERMAN_VOICE = "de"
#: Human-sounding ``espeak-ng`` voice variants (``voices/!v``) and their gender (m, f, or ? if unstated).
VARIANTS: dict[str, str] = {
    **{f"m{i}": "m" for i in range(1, 9)}, **{f"f{i}": "f" for i in range(1, 6)},
    **{f"klatt{s}": "?" for s in ("", "2", "3", "4", "5", "6")},
    "Alex": "?", "Alicia": "f", "Andrea": "f", "Andy": "m", "Annie": "f", "Denis": "m", "Diogo": "m",
    "Gene": "?", "Henrique": "m", "Hugo": "m", "Jacky": "?", "Lee": "m", "Marco": "m", "Mario": "?",
    "Michael": "?", "Mike": "?", "Nguyen": "?", "Storm": "m", "Tweaky": "?", "adam": "?", "anika": "f",
    "announcer": "?", "antonio": "m", "aunty": "f", "belinda": "f", "benjamin": "?", "boris": "?",
    "caleb": "?", "david": "?", "ed": "?", "edward": "?", "grandma": "f", "grandpa": "?",
    "gustave": "?", "iven": "?", "iven2": "?", "john": "?", "linda": "f", "max": "?", "michel": "m",
    "miguel": "m", "norbert": "?", "pablo": "?", "paul": "?", "pedro": "?", "quincy": "?", "rob": "?",
    "robert": "?", "sandro": "m", "shelby": "?", "steph": "f", "steph2": "f", "travis": "m",
    "victor": "m", "zac": "?", "whisper": "m", "whisperf": "f",
}
_GENDER = {"m": "male", "f": "female", "?": "unstated"}


def _check_seed(seed: object, where: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer", where=where)
    return seed


# ------------------------------------------------------------------------------------------ speakers


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an espeak-ng variant, its English accent, base pitch and speed, and a
    vocal-tract factor ``warp`` (all frequencies × warp); ``test_only`` speakers never speak in train."""

    index: int
    variant: str
    gender: str
    english: str
    pitch: float
    speed: float
    warp: float
    test_only: bool


@dataclass(frozen=True)
class Rendition:
    """One utterance: the word (label), speaker and this rendition's random settings."""

    label: int
    speaker: int
    pitch: int  # espeak-ng -p, 0-99
    speed: int  # espeak-ng -s, words per minute
    gain_db: float
    snr_db: float
    lead: float  # s of silence before the word
    noise_seed: int


def make_speakers(seed: int = 0, n: int = N_SPEAKERS) -> tuple[Speaker, ...]:
    """``n`` speakers with distinct voice variants (seeded); the first ``HELD_OUT_FRACTION · n`` after
    shuffling are test-only."""
    rng = np.random.default_rng([_check_seed(seed, "make_speakers"), 7])
    names = sorted(VARIANTS)
    if not 0 < n <= len(names):
        raise ConfigError("n", n, f"1 … {len(names)} speakers (one voice variant each)", where="make_speakers")
    chosen = [names[i] for i in rng.permutation(len(names))[:n]]
    n_held = max(1, round(HELD_OUT_FRACTION * n)) if n > 1 else 0
    speakers = []
    for i, variant in enumerate(chosen):
        speakers.append(Speaker(
            index=i, variant=variant, gender=_GENDER[VARIANTS[variant]],
            english=ENGLISH_VOICES[int(rng.integers(len(ENGLISH_VOICES)))],
            pitch=float(rng.uniform(25, 75)), speed=float(rng.uniform(95, 165)),
            warp=float(rng.uniform(0.88, 1.12)), test_only=i < n_held,
        ))
    return tuple(speakers)


def plan_split(split: str, n: int, speakers: Sequence[Speaker], seed: int = 0) -> list[Rendition]:
    """The ``n`` renditions of ``split``: labels balanced (± 1) and shuffled; train uses only the
    training speakers, test takes half its utterances from the test-only speakers (if any)."""
    split_id = _split_id(split)
    rng = np.random.default_rng([_check_seed(seed, "plan_split"), split_id, 1])
    labels = rng.permutation(np.arange(n) % len(CLASSES))
    train_spk = np.array([s.index for s in speakers if not s.test_only])
    held_spk = np.array([s.index for s in speakers if s.test_only])
    if split == "test" and len(held_spk):
        from_held = rng.permutation(np.arange(n) < n // 2)
        spk = np.where(from_held, rng.choice(held_spk, n), rng.choice(train_spk, n))
    else:
        spk = rng.choice(train_spk, n)
    out = []
    for i in range(n):
        s = speakers[int(spk[i])]
        out.append(Rendition(
            label=int(labels[i]), speaker=s.index,
            pitch=int(np.clip(round(s.pitch + rng.uniform(-8, 8)), 0, 99)),
            speed=int(round(s.speed * rng.uniform(0.85, 1.15))),
            gain_db=float(rng.uniform(-6, 6)), snr_db=float(rng.uniform(20, 40)),
            lead=float(rng.uniform(0.03, 0.25)), noise_seed=int(rng.integers(2**31)),
        ))
    return out


def _split_id(split: str) -> int:
    if split not in ("train", "test"):
        raise ConfigError("split", split, "'train' or 'test'")
    return 0 if split == "train" else 1


# ------------------------------------------------------------------------------------------- audio


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on PATH."""
    return shutil.which("espeak-ng") is not None


def espeak_version() -> str | None:
    """The installed espeak-ng's version (e.g. ``"1.51"``), or None when it is not installed. Other
    versions may speak differently, so a build records it."""
    if not espeak_available():
        return None
    proc = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"text-to-speech:\s*(\S+)", proc.stdout)
    return found.group(1) if found else proc.stdout.strip() or None


def synthesise(text: str, voice: str, *, speed: int = 175, pitch: int = 50) -> np.ndarray:
    """``text`` spoken by ``espeak-ng -v voice`` as float64 audio at 22.05 kHz in [-1, 1]."""
    if not espeak_available():
        raise DataError("espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng); it is needed "
                        "to synthesise the SHD stand-in")
    cmd = ["espeak-ng", "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "--stdout", text]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0 or len(proc.stdout) <= 44:
        raise DataError(f"espeak-ng failed for {cmd}: {proc.stderr.decode(errors='replace').strip()}")
    # --stdout writes a 44-byte RIFF header (with a placeholder length) then 16-bit mono PCM
    return np.frombuffer(proc.stdout[44:44 + (len(proc.stdout) - 44) // 2 * 2], dtype="<i2") / 32768.0


def _resample(audio: np.ndarray, warp: float) -> np.ndarray:
    """espeak's 22.05 kHz audio at 16 kHz with all frequencies multiplied by ``warp`` (FFT resampling)."""
    from scipy.signal import resample

    n_out = max(1, int(round(len(audio) * SAMPLE_RATE / (ESPEAK_RATE * warp))))
    return resample(audio, n_out)


def _trim(audio: np.ndarray, floor_db: float = -45.0) -> np.ndarray:
    """``audio`` without its leading and trailing stretches below ``floor_db`` re its peak."""
    peak = np.abs(audio).max(initial=0.0)
    if peak == 0:
        return audio
    loud = np.flatnonzero(np.abs(audio) > peak * 10 ** (floor_db / 20))
    return audio[loud[0]:loud[-1] + 1]


def render(r: Rendition, speaker: Speaker, *, audio: np.ndarray | None = None) -> np.ndarray:
    """The 16 kHz audio of rendition ``r``: synthesised (or the given espeak-rate ``audio``), trimmed,
    warped, led by silence, set to its level, with white noise at its SNR."""
    if audio is None:
        voice = speaker.english if r.label < 10 else GERMAN_VOICE
        audio = synthesise(CLASSES[r.label], f"{voice}+{speaker.variant}", speed=r.speed, pitch=r.pitch)
    x = _resample(_trim(audio), speaker.warp)
    x = np.concatenate([np.zeros(int(round(r.lead * SAMPLE_RATE))), x, np.zeros(SAMPLE_RATE // 20)])
    rms = np.sqrt(np.mean(x**2)) or 1.0
    level = RMS * 10 ** (r.gain_db / 20)
    x *= level / rms
    noise = np.random.default_rng(r.noise_seed).standard_normal(len(x))
    return x + noise * (level * 10 ** (-r.snr_db / 20))


# ------------------------------------------------------------------------------------------ cochlea


def channel_frequencies(n: int = N_CHANNELS, low: float = F_LOW, high: float = F_HIGH) -> np.ndarray:
    """``n`` centre frequencies (Hz) evenly spaced on the ERB-number scale (Glasberg & Moore 1990:
    E(f) = 21.4 log10(1 + 0.00437 f)), lowest first."""
    e_low, e_high = (21.4 * np.log10(1 + 0.00437 * f) for f in (low, high))
    return (10 ** (np.linspace(e_low, e_high, n) / 21.4) - 1) / 0.00437


@functools.lru_cache(maxsize=1)
def _impulse_responses(n: int = N_CHANNELS) -> np.ndarray:
    """The gammatone FIR filters ``[n, FIR_TAPS]``, each scaled to unit peak gain."""
    from scipy.signal import freqz, gammatone

    rows = []
    for fc in channel_frequencies(n):
        b, _ = gammatone(float(fc), "fir", numtaps=FIR_TAPS, fs=SAMPLE_RATE)
        _, h = freqz(b, worN=[fc], fs=SAMPLE_RATE)
        rows.append(b / np.abs(h[0]))
    return np.asarray(rows)


@functools.lru_cache(maxsize=6)
def _filter_spectra(n_fft: int, n: int = N_CHANNELS) -> np.ndarray:
    from scipy import fft

    return fft.rfft(_impulse_responses(n), n_fft, axis=1).astype(np.complex64)


_BLOCK = 50  # channels filtered at once


def cochleagram(audio: np.ndarray, n_channels: int = N_CHANNELS) -> np.ndarray:
    """Envelope level in dB, float32 ``[n_channels, K]`` at 2 kHz (step ``ENV_DT``), of 16 kHz ``audio``:
    gammatone filterbank (FFT convolution), half-wave rectification, 0.5 ms box-car average, 1 ms one-pole
    low-pass, 20·log10."""
    from scipy import fft
    from scipy.signal import lfilter

    n = len(audio) // DECIMATE * DECIMATE
    # FFT lengths rounded up to a multiple of 4096 so that few filter spectra are cached
    n_fft = -(-(n + FIR_TAPS) // 4096) * 4096
    spec = fft.rfft(audio[:n].astype(np.float32), n_fft)
    bank = _filter_spectra(n_fft, n_channels)
    env = np.empty((n_channels, n // DECIMATE), dtype=np.float32)
    # in blocks of channels: arrays of a few MB are reused by malloc instead of mapped afresh each time
    for lo in range(0, n_channels, _BLOCK):
        y = fft.irfft(bank[lo:lo + _BLOCK] * spec, n_fft, axis=1)
        np.maximum(y, 0.0, out=y)
        block = y[:, 0:n:DECIMATE].copy()
        for j in range(1, DECIMATE):
            block += y[:, j:n:DECIMATE]
        env[lo:lo + _BLOCK] = block / DECIMATE
    a = np.exp(-ENV_DT / SMOOTH_TAU)
    env = lfilter([1 - a], [1, -a], env, axis=1)
    return (20 * np.log10(env + 1e-9)).astype(np.float32)


def spikes_from_envelope(level_db: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Spike ``(times s float64, units int64)`` sorted by time, from a dB envelope ``[C, K]`` at ``ENV_DT``.

    Rate = ``MAX_RATE`` · clip((level − ``THRESHOLD_DB``) / ``DYNAMIC_RANGE_DB``, 0, 1); each channel
    integrates its rate from a random phase in [0, 1) and fires whenever the integral passes a whole
    number (at most once per step as ``MAX_RATE · ENV_DT < 1``), at the linearly interpolated crossing
    time, plus Gaussian jitter ``JITTER``.
    """
    c, k = level_db.shape
    rate = MAX_RATE * np.clip((level_db - THRESHOLD_DB) / DYNAMIC_RANGE_DB, 0.0, 1.0)
    drive = rate * ENV_DT  # spikes per step, < 1
    phase = rng.random(c)[:, None]
    integral = np.concatenate([phase, phase + np.cumsum(drive, axis=1)], axis=1)  # [C, K + 1] at step edges
    whole = np.floor(integral)
    unit, step = np.nonzero(whole[:, 1:] > whole[:, :-1])
    before = integral[unit, step]
    frac = (whole[unit, step + 1] - before) / (integral[unit, step + 1] - before)
    times = (step + frac) * ENV_DT + rng.normal(0.0, JITTER, len(step))
    times = np.maximum(times, 0.0)
    order = np.lexsort((unit, times))
    return times[order], unit[order].astype(np.int64)


def utterance_spikes(r: Rendition, speaker: Speaker, seed: int, split: str, index: int,
                     *, audio: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spike ``(times, units)`` of one rendition (deterministic given ``seed``, ``split`` and ``index``)."""
    rng = np.random.default_rng([seed, _split_id(split), 2, index])
    return spikes_from_envelope(cochleagram(render(r, speaker, audio=audio)), rng)


# ------------------------------------------------------------------------------------------- files


def write_shd_file(
    path: str | os.PathLike,
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    labels: Sequence[int],
    speakers: Sequence[int],
    *,
    keys: Sequence[str] = CLASSES,
    genders: Sequence[str] = (),
    voices: Sequence[str] = (),
    marker: str,
) -> Path:
    """Write one stand-in file with SHD's writer (:func:`snnkit.data.shd.write_shd_file`): times as float16
    seconds (as the official files), units uint16, speakers, class keys, the speakers' genders and voices
    under ``extra/meta_info``, and the ``SNNKIT_STAND_IN`` root attribute ``marker``. Byte-identical for
    identical arguments."""
    from snnkit.data import shd

    return shd.write_shd_file(path, times, units, labels, keys=keys, speakers=speakers, stand_in=marker,
                              time_dtype=np.float16, meta_info={"gender": genders, "voice": voices})


def read_standin_file(path: str | os.PathLike) -> dict:
    """Minimal read of a stand-in file (``.h5`` or ``.h5.xz``): ``{"times", "units", "labels", "speaker", "keys", "marker"}``
    (lists of arrays, int64 arrays, list of str, str or None). The real reader is snnkit.data.shd."""
    import h5py

    path = Path(path)
    try:
        source = BytesIO(lzma.decompress(path.read_bytes())) if path.suffix == ".xz" else path
        with h5py.File(source, "r") as f:
            return {
                "times": [np.asarray(t, dtype=np.float64) for t in f["spikes/times"][()]],
                "units": [np.asarray(u, dtype=np.int64) for u in f["spikes/units"][()]],
                "labels": np.asarray(f["labels"][()], dtype=np.int64),
                "speaker": np.asarray(f["extra/speaker"][()], dtype=np.int64),
                "keys": [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"][()]],
                "marker": _text(f.attrs.get(MARKER_ATTR)),
            }
    except (OSError, KeyError, lzma.LZMAError) as exc:
        raise DataError(f"{path}: not a readable SHD stand-in file ({exc})") from exc


def _text(value: object) -> str | None:
    return value.decode() if isinstance(value, bytes) else None if value is None else str(value)


def _marker(seed: int, sizes: tuple[int, int], n_speakers: int) -> str:
    return (
        f"SHD STAND-IN made by snnkit (not the Spiking Heidelberg Digits): English and German digits "
        f"synthesised with espeak-ng ({n_speakers} voice variants with random accents, pitches, speeds, "
        f"vocal-tract warps; {round(HELD_OUT_FRACTION * n_speakers)} test-only), 700-channel gammatone "
        f"cochlea and integrate-and-fire spikes; {sizes[0]} train / {sizes[1]} test; seed {seed}; "
        f"builder snnkit.data.shd_standin v{BUILDER_VERSION}"
    )


def build_shd_standin(
    out: str | os.PathLike,
    *,
    n_train: int = SHD_SIZES[0],
    n_test: int = SHD_SIZES[1],
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Synthesise the stand-in into ``out/shd_train.h5`` and ``out/shd_test.h5`` (plus
    ``out/standin.json``: settings and SHA-256 of the files) and return ``out``. Needs espeak-ng.

    Deterministic: the same arguments give byte-identical files. ``progress(split, done, total)`` is
    called every 100 utterances.
    """
    _check_seed(seed, "build_shd_standin")
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(name, n, "a positive integer", where="build_shd_standin")
    if not espeak_available():
        raise DataError("the SHD stand-in needs espeak-ng to be built (Debian/Ubuntu: apt-get install "
                        "espeak-ng), then run: python scripts/make_shd_standin.py")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    speakers = make_speakers(seed)
    marker = _marker(seed, (n_train, n_test), len(speakers))
    start = time.perf_counter()
    for split, n, filename in (("train", n_train, FILES[0]), ("test", n_test, FILES[1])):
        plan = plan_split(split, n, speakers, seed)
        times, units = [], []
        for i, r in enumerate(plan):
            t, u = utterance_spikes(r, speakers[r.speaker], seed, split, i)
            times.append(t.astype(np.float16))  # as stored: a quarter of the memory
            units.append(u.astype(np.uint16))
            if progress is not None and (i + 1) % 100 == 0:
                progress(split, i + 1, n)
        write_shd_file(
            out / filename, times, units, [r.label for r in plan], [r.speaker for r in plan],
            genders=[s.gender for s in speakers],
            voices=[f"{s.english}/{GERMAN_VOICE}+{s.variant} warp {s.warp:.3f}" for s in speakers],
            marker=marker,
        )
    manifest = {
        "dataset": "shd-standin",
        "builder_version": BUILDER_VERSION,
        "espeak_ng": espeak_version(),
        "seed": seed,
        "sizes": {"train": n_train, "test": n_test},
        "speakers": [asdict(s) for s in speakers],
        "files": {name: _root.file_digest(out / name) for name in FILES},
    }
    (out / "standin.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    log.info("built the SHD stand-in (%d / %d) in %s in %.0f s", n_train, n_test, out, time.perf_counter() - start)
    return out


# ------------------------------------------------------------------------------------- learnability


def count_features(times: Sequence[np.ndarray], units: Sequence[np.ndarray], *, bins: int = 1,
                   duration: float | None = None, n_channels: int = N_CHANNELS) -> np.ndarray:
    """Spike counts per channel in ``bins`` equal time bins over ``[0, duration)`` (default: the latest
    spike of all samples), float64 ``[N, bins · n_channels]``; ``bins=1``: total counts per channel."""
    if duration is None:
        duration = max((float(t.max()) for t in times if len(t)), default=1.0) + 1e-9
    out = np.zeros((len(times), bins * n_channels))
    for i, (t, u) in enumerate(zip(times, units)):
        b = np.minimum((np.asarray(t) / duration * bins).astype(np.int64), bins - 1)
        np.add.at(out[i], b * n_channels + np.asarray(u, dtype=np.int64), 1.0)
    return out


def linear_readout_accuracy(train: dict, test: dict, *, bins: int = 1, pool: int = 1, c: float = 1.0) -> float:
    """Test accuracy of a linear read-out (sklearn ``LogisticRegression``, L2 strength ``1/c``) of
    standardised log(1 + spike count) features (:func:`count_features`; ``pool`` sums groups of that many
    neighbouring channels first) fitted on ``train``; ``train``/``test`` as :func:`read_standin_file`
    returns them."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    duration = max(float(t.max()) for t in train["times"] + test["times"] if len(t)) + 1e-9
    x_tr, x_te = (
        np.log1p(count_features(d["times"], [u // pool for u in d["units"]], bins=bins, duration=duration,
                                n_channels=-(-N_CHANNELS // pool)))
        for d in (train, test)
    )
    scaler = StandardScaler().fit(x_tr)
    with threadpool_limits(1):  # small problem: one BLAS thread is faster than many on a shared machine
        model = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(x_tr), train["labels"])
        return float(model.score(scaler.transform(x_te), test["labels"]))


# ------------------------------------------------------------------------------ cache and datasets


def _xz(src: Path, dest: Path) -> None:
    """``src`` xz-compressed (preset 9) into ``dest``; the xz format holds no name or time stamp, so the
    archive is reproducible."""
    dest.write_bytes(lzma.compress(src.read_bytes(), preset=9))


def write_embedded(out: str | os.PathLike = EMBEDDED_DIR, *, n_train: int = SMALL_SIZES[0],
                   n_test: int = SMALL_SIZES[1], seed: int = 0) -> Path:
    """Build the small set and write it as ``out/shd_{train,test}.h5.xz`` (xz: a third of the HDF5 size,
    gzip only halves it) plus ``out/manifest.json`` (settings, SHA-256 of the archives and of the HDF5
    inside)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        build_shd_standin(tmp, n_train=n_train, n_test=n_test, seed=seed)
        manifest = json.loads((Path(tmp) / "standin.json").read_text())
        manifest["dataset"] = "shd-standin-small"
        manifest["hdf5_sha256"] = manifest.pop("files")
        manifest["files"] = {}
        for name in FILES:
            _xz(Path(tmp) / name, out / f"{name}.xz")
            manifest["files"][f"{name}.xz"] = _root.file_digest(out / f"{name}.xz")
        manifest["generator"] = "scripts/make_shd_standin.py --small"
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return out


def _install_embedded(directory: str | os.PathLike | None) -> Path:
    """The shipped small set decompressed (once, verified) into ``directory`` (default
    ``cache_dir()/standins``)``/shd-standin-small-<sha>/``; returns that folder."""
    try:
        manifest = json.loads((EMBEDDED_DIR / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{EMBEDDED_DIR / 'manifest.json'}: the shipped SHD stand-in's manifest is missing or "
                        f"unreadable ({exc}); reinstall snnkit or run: python scripts/make_shd_standin.py "
                        "--small") from exc
    key = hashlib.sha256(json.dumps(manifest["hdf5_sha256"], sort_keys=True).encode()).hexdigest()[:12]
    base = Path(directory) if directory is not None else _root.cache_dir() / "standins"
    target = base / f"shd-standin-small-{key}"
    if all((target / name).is_file() for name in FILES):
        return target
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=base))
    try:
        for name in FILES:
            archive = EMBEDDED_DIR / f"{name}.xz"
            if not archive.is_file() or _root.file_digest(archive) != manifest["files"].get(f"{name}.xz"):
                raise DataError(f"{archive}: missing or not the shipped file (SHA-256 differs from "
                                f"{EMBEDDED_DIR / 'manifest.json'}); reinstall snnkit")
            with lzma.open(archive, "rb") as src, open(tmp / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        shutil.copy(EMBEDDED_DIR / "manifest.json", tmp / "standin.json")
        tmp.chmod(0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            if not all((target / name).is_file() for name in FILES):  # not a concurrent install that won
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def default_build_dir(directory: str | os.PathLike | None = None, *, seed: int = 0) -> Path:
    """Where ``shd-standin`` looks for its build: ``directory`` (default ``cache_dir()/standins``)
    ``/shd-standin-v<builder version>-seed<seed>``."""
    _check_seed(seed, "default_build_dir")
    base = Path(directory) if directory is not None else _root.cache_dir() / "standins"
    return base / f"shd-standin-v{BUILDER_VERSION}-seed{seed}"


def standin_root(directory: str | os.PathLike | None = None, *, seed: int = 0) -> Path:
    """The folder holding the SHD-sized stand-in (``shd_train.h5``, ``shd_test.h5``), built first if
    missing: ``directory`` (default ``cache_dir()/standins``)``/shd-standin-v<version>-seed<seed>/``.

    The build (15-25 min on one core) happens in a temporary folder renamed into place, so a crash
    leaves no partial build under the final name. Without espeak-ng: a DataError saying how to build it.
    """
    target = default_build_dir(directory, seed=seed)
    base = target.parent
    if (target / "standin.json").is_file():
        return target
    if not espeak_available():
        raise DataError(
            f"the SHD-sized stand-in is not built yet (looked in {target}) and espeak-ng is not installed to "
            "build it. Install espeak-ng (Debian/Ubuntu: apt-get install espeak-ng) and run: python "
            f"scripts/make_shd_standin.py --out {target} (15-25 min on one core), or use the shipped small "
            "set 'shd-standin-small'"
        )
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=base))
    try:
        log.info("building the SHD stand-in into %s (15-25 min on one core)", target)
        build_shd_standin(tmp, seed=seed)
        tmp.chmod(0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "standin.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _load(spec: DatasetSpec, split: str, *, data_root: object, download: bool, small: bool,
          directory: str | os.PathLike | None = None, seed: int = 0, dt: float = 1e-3,
          max_time: float | None = None, pool: int = 1):
    """Loader of ``shd-standin-small`` / ``shd-standin``: install or build, then read with the real
    SHD reader (:func:`snnkit.data.shd.shd_dataset`)."""
    from snnkit.data.shd import shd_dataset

    if small:
        if seed != 0:
            raise ConfigError("seed", seed, "0 (the shipped small set is made with seed 0; build others with "
                              "scripts/make_shd_standin.py)", where=spec.name)
        where = _install_embedded(directory)
    else:
        where = standin_root(directory, seed=seed)
    filename = FILES[_split_id(split)]
    dataset = shd_dataset(where / filename, name=spec.name, dt=dt, max_time=max_time, pool=pool,
                          title=f"{spec.name} {split}")
    manifest = json.loads((where / "standin.json").read_text())
    expected = (manifest.get("hdf5_sha256") or manifest.get("files", {})).get(filename)
    if dataset.origin["files"].get(filename) != expected or not dataset.stand_in:
        raise DataError(f"{where / filename}: SHA-256 or stand-in marker does not match the stand-in's "
                        f"manifest; the cached copy is damaged — delete {where} and it is remade on next use")
    return dataset


_COMMON = ("directory", "seed", "dt", "max_time", "pool")
register_dataset(
    "shd-standin-small",
    functools.partial(_load, small=True),
    f"SHD STAND-IN, small (not SHD): {SMALL_SIZES[0]} train / {SMALL_SIZES[1]} test English and German "
    "digits synthesised with espeak-ng, 700-channel gammatone cochlea, integrate-and-fire spikes; shipped "
    "in snnkit/data/embedded/shd_standin (no espeak-ng needed), read by the real SHD reader",
    options=_COMMON,
)
register_dataset(
    "shd-standin",
    functools.partial(_load, small=False),
    f"SHD STAND-IN, SHD-sized (not SHD): {SHD_SIZES[0]} train / {SHD_SIZES[1]} test English and German "
    "digits synthesised with espeak-ng, 700-channel gammatone cochlea, integrate-and-fire spikes; built "
    "on first use into the cache (needs espeak-ng; python scripts/make_shd_standin.py), read by the real "
    "SHD reader",
    options=_COMMON,
)
