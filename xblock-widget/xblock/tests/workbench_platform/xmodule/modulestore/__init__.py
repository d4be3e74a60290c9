"""Stand-in for ``xmodule.modulestore`` (see ../../README.md): ``ModuleStoreEnum``'s names and values."""


class ModuleStoreEnum:
    """The constants of edx-platform's modulestores that Studio's code passes around."""

    class Branch:
        """Branch settings (``store.branch_setting(…)``): which version of a course's blocks is read."""

        draft_preferred = "draft-preferred"
        published_only = "published-only"

    class BranchName:
        """The branches of a split-modulestore course, as its keys name them (``+branch@published-branch``)."""

        draft = "draft-branch"
        published = "published-branch"
        library = "library"

    class UserID:
        """The user ids of changes no person made."""

        mgmt_command = -1
        primitive_command = -2
        test = -3
        system = -4
