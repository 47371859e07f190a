"""Patients as the clinic knows them: the phone blind index, the directory's guest records."""
