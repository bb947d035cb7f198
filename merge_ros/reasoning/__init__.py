"""Guided VLM reasoning, ROS-free.

prompt: the request built from a trigger (reference crops, captioned actor crops, the last frames, instructions);
backends: transformers, openai and none behind VlmBackend.reason; parameters: vlm_node's table (BackendConfig)
and the backend it builds; parse: defensive parsing and validation of answers; dispatcher: bounded, non-blocking
dispatch; worker: a backend behind a deadline in its own thread; status: outcome kinds and the counters of
merge_ros/ReasoningStatus. The event stage that uses them is merge_ros.events.stage.
"""
