"""Training the reader and choosing its read settings: data preparation (`data.py`, `rows.py`), `qa train-reader`
(`train.py`), dev metrics (`evaluate.py`), the dev split as a `qa` corpus (`devset.py`) and `qa tune-reader`
(`tune.py`). May import anything; nothing on the serving side imports it."""
