"""Managed (lifecycle) nodes: perception_node and vlm_node hold models, so a robot's bring-up can load, pause and
release them with the ROS 2 node lifecycle (`ros2 lifecycle set /perception_node deactivate`, a lifecycle manager,
launch events) instead of killing processes.

- configure: the parameters are checked and the models load. A bad parameter or a model that cannot load fails
  the transition (FAILURE, back to unconfigured) with one error line naming the parameter.
- activate / deactivate: the work (frames, requests) starts / stops; subscriptions, the identity gallery and the
  loaded models stay, so a deactivated node resumes where it was.
- cleanup: the models are released; parameters may then be changed (`ros2 param set`) and the node configured
  again. While configured, a change to one of them is refused with the reason.
- shutdown (also from destroy_node, i.e. at Ctrl-C): everything is released.

The `autostart` parameter (default true) configures and activates a node as it is created, so that `ros2 run`,
`merge-ros run` and the Python API get a working node as before; launch/merge.launch.py passes its own
`autostart` argument to it, and false leaves the nodes unconfigured for `ros2 lifecycle` or a lifecycle manager.
A failed autostart raises what made configure fail (merge_ros.ros.entry turns it into exit code 2 and one line).
Why in the node rather than in launch events: only the node can end its own process when its models cannot load.
"""
from __future__ import annotations

import gc
import sys
import traceback
from typing import Any

from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.parameter import Parameter

from merge_ros.params import LifecycleConfig, Table, resolve, table
from merge_ros.ros.parameters import declare

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE
ERROR = TransitionCallbackReturn.ERROR


class ManagedNode(LifecycleNode):
    """A lifecycle node whose subclass provides configure() (check self.params, load models, create what depends on
    them), release() (undo configure; idempotent, also after a partial configure) and, where work must stop or
    resume, on_active()/on_inactive(). Call autostart() at the end of the subclass's __init__."""

    load_errors: tuple[type[Exception], ...] = ()  # what configure() raises when a model cannot load

    def __init__(self, node_name: str, parameters: Table, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.table = parameters
        for name, spec in parameters.items():
            declare(self, name, spec)
        self.params: dict[str, Any] = {}  # resolved at configure
        self.configured = False
        self.active = False
        self.configure_error: Exception | None = None
        self._finalized = False
        self._holding = False  # configure() ran (maybe partly) and release() has not yet undone it
        self._quiet = False  # during autostart the error is raised to the caller, who reports it
        self.add_on_set_parameters_callback(self._refuse_changes_while_configured)
        self._guard_change_state()

    # --- what subclasses provide -------------------------------------------------------------------------------
    def configure(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def on_active(self) -> None:
        """Called once the node is active."""

    def on_inactive(self) -> None:
        """Called once the node is no longer active: stop the work in progress."""

    # --- bring-up ----------------------------------------------------------------------------------------------
    def autostart(self) -> None:
        """Configure and activate now if the autostart parameter says so."""
        if resolve(table(LifecycleConfig), {"autostart": self.get_parameter("autostart").value})["autostart"]:
            self.bring_up()

    def bring_up(self) -> None:
        """Configure and activate in this thread; raise what made configure fail (its one line not logged here:
        the caller reports it)."""
        self._quiet = True
        try:
            if self.trigger_configure() != SUCCESS:
                raise self.configure_error or RuntimeError(f"{self.get_name()}: configure failed")
        finally:
            self._quiet = False
        if self.trigger_activate() != SUCCESS:
            raise RuntimeError(f"{self.get_name()}: activate failed")

    # --- transitions -------------------------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.configure_error = None
        try:
            self.params = resolve(self.table, self._declared_values(), self.get_name())
            self._holding = True
            self.configure()
        except (ValueError, ParameterException, *self.load_errors) as exc:
            return self._configure_failed(exc, FAILURE, str(exc))
        except Exception as exc:  # a bug, not a setting: keep its traceback
            return self._configure_failed(exc, ERROR, "".join(traceback.format_exception(exc)).rstrip())
        self.configured = True
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = True
        self.on_active()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.active = False
        self.on_inactive()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_all()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_all()
        self._finalized = True
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """After an unexpected error in a transition: release what there is and return to unconfigured."""
        self._release_all()
        return SUCCESS

    def destroy_node(self) -> None:
        """Finalize (releasing the models) before the node goes, as a Ctrl-C or a graph shutdown does."""
        if not self._finalized and self.context.ok():
            try:
                self.trigger_shutdown()
            except Exception as exc:  # caught mid-transition (stopped during a configure): release directly
                self.get_logger().warning(f"no shutdown transition from here ({exc}); releasing directly")
        self._release_all()
        super().destroy_node()

    # --- helpers -----------------------------------------------------------------------------------------------
    def _guard_change_state(self) -> None:
        """rclpy's change_state service raises (RCLError) on a transition the current state does not have, e.g.
        `ros2 lifecycle set /perception_node activate` twice: the exception would end the executor, and with it
        the node. Answer success=false instead, as rclcpp does, with a warning naming the transition."""
        service = self._service_change_state
        handle = service.callback

        def change_state(request: ChangeState.Request, response: ChangeState.Response) -> ChangeState.Response:
            try:
                return handle(request, response)
            except Exception as exc:
                self.get_logger().warning(f"transition {request.transition.label or request.transition.id} "
                                          f"refused: {exc}")
                response.success = False
                return response

        service.callback = change_state

    def _configure_failed(self, exc: Exception, code: TransitionCallbackReturn, text: str) -> TransitionCallbackReturn:
        self.configure_error = exc
        self._release_all()
        if not self._quiet:
            self.get_logger().error(f"configure failed: {text}")
        return code

    def _release_all(self) -> None:
        if self.active:
            self.active = False
            self.on_inactive()
        if not self._holding:
            return
        self.release()
        self._holding = self.configured = False
        free_accelerator_memory()

    def _declared_values(self) -> dict[str, Any]:
        return {name: self.get_parameter(name).value for name in self.table}

    def _refuse_changes_while_configured(self, params: list[Parameter]) -> SetParametersResult:
        """Models and settings are built from the parameters at configure; a later change would not apply."""
        changed = [p.name for p in params if p.name in self.table]
        if not changed or not self.configured:
            return SetParametersResult(successful=True)
        return SetParametersResult(successful=False, reason=(
            f"{', '.join(changed)}: read at configure; `ros2 lifecycle set {self.get_fully_qualified_name()} "
            f"cleanup`, set it, then configure again"))


def free_accelerator_memory() -> None:
    """Give released models' memory back: Python's cycles first, then torch's CUDA cache (if torch is in use)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
