"""The reader: a small extractive QA model that reads (question, passage) pairs.

For each passage it gives the best answer span and a "no answer" score (the [CLS] position, as SQuAD 2.0
models have it). `model.py` loads and runs it (transformers' `AutoModelForQuestionAnswering`, any folder);
`data.py`, `features.py` and `train.py` make the shipped weights under `models/reader/` (`qa train-reader`).
"""
