"""The onnxruntime options every briefqa session is opened with (models.packaged)."""

from briefqa.models.packaged import session_options, threads


def test_sessions_use_the_threads_asked_for_and_let_them_sleep_when_idle():
    one, default = session_options(1), session_options()
    assert one.intra_op_num_threads == 1 and default.intra_op_num_threads == threads()
    # An answer runs three sessions one after another; a pool spinning after its run would take the next's cores.
    assert {o.get_session_config_entry("session.intra_op.allow_spinning") for o in (one, default)} == {"0"}
