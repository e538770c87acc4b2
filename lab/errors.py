"""Every error the sandbox raises on purpose.

A message says what is wrong, shows the offending value, and says how to fix it.
The CLI and the notebooks print the message, not a traceback.
"""


class LabError(Exception):
    """Base class: a problem the learner can fix, described in one sentence."""


class NotPreparedError(LabError):
    """The sandbox has no state yet: `lab setup` (or `make lab`) prepares it."""


class ConfigError(LabError):
    """A setting in the environment or `.env` is missing or invalid."""


class ContractError(LabError):
    """A value does not fit the data contract (a date, a row count, a column)."""


class BatchFileError(LabError):
    """A landed batch file is missing, empty or unreadable."""


class ReconcileError(LabError):
    """A load's counts do not add up (rows in = loaded + quarantined): a bug, nothing changed."""


class WarehouseError(LabError):
    """The warehouse cannot be reached or refused a statement."""


class WarehouseLockedError(WarehouseError):
    """Another process holds the DuckDB file's write lock."""


class LakeError(LabError):
    """The object store cannot be reached or a bucket or object is missing."""


class TransformError(LabError):
    """dbt could not run, or a model or test failed."""


class QualityGateError(LabError):
    """A Great Expectations checkpoint failed: the data did not meet its suite."""


class SuiteError(LabError):
    """An expectation cannot join a suite: not an expectation, a column the table lacks, a copy."""


class NotebookStepError(LabError):
    """A pipeline notebook failed; the message names the notebook and the cell."""


class StepLockedError(NotebookStepError, WarehouseLockedError):
    """A pipeline notebook stopped because the warehouse file stayed locked (worth a retry)."""


class AirflowError(LabError):
    """An `airflow` command failed, or Airflow's REST API refused a request."""


class MonitoringError(LabError):
    """Prometheus or Loki cannot be reached, or refused a query."""


class ExerciseError(LabError):
    """An exercise number that does not exist, or an answer that cannot be read."""
