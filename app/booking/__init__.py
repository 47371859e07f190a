"""The booking lifecycle: state machine, policies and one service per use case."""
