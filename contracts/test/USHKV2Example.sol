// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {USHK} from "../USHK.sol";

/// @title USHKV2Example
/// @notice A second implementation used by the upgrade tests: it keeps the storage layout and adds
/// one function, as a real upgrade would.
contract USHKV2Example is USHK {
    /// @notice Tells that the upgrade took place.
    /// @return The new implementation's generation.
    function generation() external pure returns (uint256) {
        return 2;
    }
}
