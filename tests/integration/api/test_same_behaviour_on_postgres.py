"""The API's unit behaviours, run again on the real PostgreSQL (migrated by Alembic, not create_all).

The test functions are imported from the unit suite; this directory's ``conftest.py`` swaps the
database under them, so one body of assertions covers both backends.
"""

from __future__ import annotations

import pytest

from tests.unit.api.test_auth_and_errors import (  # noqa: F401
    test_missing_key_is_401_in_our_error_shape,
    test_revoked_key_is_401,
    test_unknown_or_malformed_key_is_401_and_not_echoed,
)
from tests.unit.api.test_datasets import (  # noqa: F401
    test_list_is_newest_first_and_pages_with_after,
    test_same_idempotency_key_and_upload_returns_the_first_dataset,
    test_same_idempotency_key_with_other_bytes_or_options_is_422,
    test_upload_over_the_limit_is_413_and_stores_nothing,
    test_valid_upload_is_201_with_its_report,
)
from tests.unit.api.test_jobs import (  # noqa: F401
    dataset_id,
    real_openai_app,
    real_openai_client,
    test_cancel_is_202_cancelling_and_nudges_the_worker,
    test_cancel_of_a_finished_job_is_409,
    test_create_is_202_pending_with_every_field,
    test_events_and_metrics_are_oldest_first_and_tailable,
    test_invalid_dataset_is_422_naming_it_and_its_first_errors,
    test_list_is_newest_first_pages_with_after_and_filters_by_status,
    test_model_past_its_cutoff_is_422_on_the_real_endpoint,
    test_same_idempotency_key_and_body_returns_the_same_job,
    test_same_idempotency_key_with_another_body_is_422,
    test_transitions_are_oldest_first_with_prefixed_ids_and_tailable,
    test_unknown_model_is_422_with_the_reason,
)
from tests.unit.api.test_tenant_walls import (  # noqa: F401
    owned_ids,
    test_another_tenants_dataset_cannot_be_trained_on,
    test_every_route_with_an_id_is_404_for_another_tenant,
    test_lists_show_only_the_callers_rows,
)

pytestmark = pytest.mark.integration
