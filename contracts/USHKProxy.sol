// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";

/// @title USHKProxy
/// @notice The address holders and integrators use: an ERC-1967 proxy whose implementation is USHK
/// (UUPS: upgrades go through the implementation's upgradeToAndCall, UPGRADER_ROLE only).
contract USHKProxy is ERC1967Proxy {
    /// @param implementation The first USHK implementation.
    /// @param data The encoded call to USHK.initialize.
    constructor(address implementation, bytes memory data) ERC1967Proxy(implementation, data) {}
}
