// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title RescueTestToken
/// @notice Test-only ERC-20 for USHK.rescueERC20: anyone may mint, and `setFailTransfers(true)`
/// makes `transfer` return false without moving anything (a token SafeERC20 must refuse).
contract RescueTestToken {
    event Transfer(address indexed from, address indexed to, uint256 value);

    mapping(address => uint256) public balanceOf;
    uint256 public totalSupply;
    bool public failTransfers;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
        emit Transfer(address(0), to, amount);
    }

    function setFailTransfers(bool fail) external {
        failTransfers = fail;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (failTransfers) return false;
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
        return true;
    }
}
