"""Who is calling: a driver's Bearer token resolved to an account id, for every driver endpoint (billing's too)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateways.http.deps import PlatformDep
from parking_core.accounts import Accounts
from parking_core.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="the access_token from POST /v1/auth/token")


def get_accounts(platform: PlatformDep) -> Accounts:
    return platform.accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


def current_account(accounts: AccountsDep,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The signed-in driver's account id; 401 without a valid, unexpired Bearer token."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("Authorization: send 'Bearer <access_token>' from POST /v1/auth/token", field="Authorization")
    return accounts.account_from_token(credentials.credentials)


CurrentAccount = Annotated[str, Depends(current_account)]
