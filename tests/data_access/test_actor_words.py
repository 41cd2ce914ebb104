from data_access.actor import _role_names
from domain.roles import Role


def test_refusals_name_the_roles_with_the_right_article():
    assert _role_names([Role.ADMIN]) == "an administrator"
    assert _role_names([Role.MANAGER, Role.ADMIN]) == "a manager or administrator"
    assert (
        _role_names([Role.CSM, Role.MANAGER, Role.ADMIN])
        == "a customer-success manager, manager or administrator"
    )
