"""Guided VLM reasoning, ROS-free.

prompt: the request built from a trigger (reference crops, captioned actor crops, the last frames, instructions);
backends: transformers, openai and none behind VlmBackend.reason; parse: defensive parsing and validation of
answers; dispatcher: bounded, non-blocking dispatch; worker: a backend behind a deadline in its own thread;
status: outcome kinds and the counters of merge_ros/ReasoningStatus; stage: the event stage (detector + requests
+ candidates) that event_node wraps and an offline runner calls directly; testing: test doubles, never defaults.
"""
