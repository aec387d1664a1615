"""The Preprocessor: imputer, scaler, category and target encoding fitted on train rows only,
applied to any batch, saved as JSON; and the raw-beside-encoded preview."""
