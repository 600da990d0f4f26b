"""What a run folder holds, by name: the files a run writes and the harness and the report read.

config.yaml            the resolved config
summary.json           the run's record (study.runs.summary)
metrics.csv            step, train_error, train_loss, lr, val_error, test_error (percent)
diagnostics.csv        DIAGNOSTICS_COLUMNS: signals through training (study.training.diagnostics)
layer_responses.csv    Figure 7's per-layer response std, written at the end
checkpoints/           last.ckpt and previous.ckpt (study.runs.checkpoints)
run.lock               who trains it now (study.runs.lock)
train.log              the run's messages
"""

CONFIG, METRICS, DIAGNOSTICS, RESPONSES, TRAIN_LOG = (
    "config.yaml",
    "metrics.csv",
    "diagnostics.csv",
    "layer_responses.csv",
    "train.log",
)
DIAGNOSTICS_COLUMNS = ["step", "layer", "name", "response_std", "grad_norm"]
