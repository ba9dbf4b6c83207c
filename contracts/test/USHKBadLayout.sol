// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {USHK} from "../USHK.sol";

/// @title USHKBadLayout
/// @notice An implementation the storage-layout gate of `ape run upgrade schedule` must refuse
/// (tests/scripts/test_upgrade_script.py): USHK with a state variable of its own, which solc puts
/// at slot 0 of the proxy, outside every ERC-7201 namespace.
contract USHKBadLayout is USHK {
    /// @notice A variable at slot 0.
    uint256 public extra;
}
