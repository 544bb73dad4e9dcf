"""The physiological shard contract shared by every MBSL reader, the ingest job and training.

A window row (one Parquet row per window, see ``../shared/DESIGN.md`` "Shard contract"):

==================  ==============================  ==========================================
column              Arrow type                      meaning
==================  ==============================  ==========================================
sample_id           string                          ``sha1(source|start_sample)[:20]``: stable
source              string                          record path relative to the raw root
subject             string                          subject (``subjects.py``), in one split
record              string                          record name (``S01/S01_r1``)
start_s             float64                         window start in seconds from record start
signals             fixed_shape_tensor<f32>[C, T]   channels in ``CHANNELS`` order, resampled
channel_present     fixed_shape_tensor<bool>[C]     False where the record lacks the channel
hr_bpm              float32                         heart rate (beats/min), NaN = unknown
rr_bpm              float32                         respiration rate (breaths/min), NaN = unknown
activity            int8                            index into ``ACTIVITIES``, -1 = unknown
apnea               int8                            1 apnea, 0 normal breathing, -1 unknown
label_source        string                          ``table`` or ``signal``
==================  ==============================  ==========================================

A rejected row (``_rejected/part-*.parquet``): ``source``, ``stage`` (``list``, ``read``,
``decode``, ``labels``, ``window``), ``error_type``, ``message``, ``start_s`` (NaN for a whole
record), ``sample_id`` (empty for a whole record).
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# Canonical channel order of the ``signals`` tensor.
CHANNELS: tuple[str, ...] = ("ecg", "ppg", "resp", "acc_x", "acc_y", "acc_z", "spo2")

# Activity classes of the sample corpus (PPG-DaLiA's activities map onto these, see readers).
ACTIVITIES: tuple[str, ...] = ("rest", "walk", "run", "cycle", "sleep")

# Defaults of the ingest (PPG-DaLiA: 8 s windows, 2 s stride).
DEFAULT_SAMPLE_RATE_HZ = 32.0
DEFAULT_WINDOW_S = 8.0
DEFAULT_STRIDE_S = 2.0
