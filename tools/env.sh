# Source this file (bash) to use the package from this checkout: the venv, the ROS 2 wheels, the extra ROS 2
# packages built from sources by `tools/setup.sh --ros-sources DIR` (build/ros_extra/install, when there), the
# messages built in install/, and this source tree ahead of the installed copy of the Python package.
_merge_ros_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$_merge_ros_root/.venv/bin/activate"
export AMENT_PREFIX_PATH="$_merge_ros_root/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
if [ -f "$_merge_ros_root/build/ros_extra/install/local_setup.bash" ]; then
  # shellcheck disable=SC1091
  COLCON_CURRENT_PREFIX="$_merge_ros_root/build/ros_extra/install" \
    source "$_merge_ros_root/build/ros_extra/install/local_setup.bash"
fi
# shellcheck disable=SC1091
COLCON_CURRENT_PREFIX="$_merge_ros_root/install" source "$_merge_ros_root/install/setup.bash"
export PYTHONPATH="$_merge_ros_root${PYTHONPATH:+:$PYTHONPATH}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
export ROS_HOME="${ROS_HOME:-$_merge_ros_root/build/ros_home}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROS_HOME/log}"
unset _merge_ros_root
