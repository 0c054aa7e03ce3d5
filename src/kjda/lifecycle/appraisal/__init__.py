"""鉴定: retention rules as administered data, expiries, appraisal batches and 鉴定意见书."""
