"""The reader: a small extractive QA model that reads (question, passage) pairs (inference only).

For each passage it gives the best answer span and a "no answer" score (the [CLS] position, as SQuAD 2.0
models have it). `model.py` loads and runs it (transformers' `AutoModelForQuestionAnswering`, any folder),
`onnx_runtime.py` the same weights on ONNX Runtime, `features.py` turns pairs into windows, `load.py` says which
reader to load. The read stage that uses it is `qa.search.reading`; the shipped weights under `models/reader/`
are made by `qa.training` (`qa train-reader`).
"""
