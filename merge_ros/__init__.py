"""MERGE for ROS 2.

The generated interfaces (merge_ros.msg, merge_ros.srv) may be installed in another directory than this
source tree (a colcon install prefix beside an editable checkout), so the package path is extended over
every sys.path entry that holds a merge_ros directory.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"
