"""Personal data (Law 91/2025/QH15, Decree 356/2025/NĐ-CP): the record of processing, generated
from the annotations beside each schema and the contracts (annotations.py reads and checks them,
report.py writes the record: `sotay privacy report`)."""
