// Test module for 64-bit ports: ret = p_a + p_b (signed 64), m_o = [p_a, p_b, p_a ^ p_b] (unsigned 64),
// m_s[0] = p_c (signed 33, sign-extended by the harness). Expected: cycles = 2 (the last write lands at
// the edge that raises done).
module wide (
    clk,
    rst,
    start,
    done,
    p_a,
    p_b,
    p_c,
    ret,
    m_o_addr0,
    m_o_wdata0,
    m_o_we0,
    m_o_addr1,
    m_o_wdata1,
    m_o_we1,
    m_s_addr0,
    m_s_wdata0,
    m_s_we0
);

input clk;
input rst;
input start;
output done;
reg done;
input [63:0] p_a;
input signed [63:0] p_b;
input signed [32:0] p_c;
output signed [63:0] ret;
reg signed [63:0] ret;
output [1:0] m_o_addr0;
reg [1:0] m_o_addr0;
output [63:0] m_o_wdata0;
reg [63:0] m_o_wdata0;
output m_o_we0;
reg m_o_we0;
output [1:0] m_o_addr1;
reg [1:0] m_o_addr1;
output [63:0] m_o_wdata1;
reg [63:0] m_o_wdata1;
output m_o_we1;
reg m_o_we1;
output [0:0] m_s_addr0;
reg [0:0] m_s_addr0;
output signed [32:0] m_s_wdata0;
reg signed [32:0] m_s_wdata0;
output m_s_we0;
reg m_s_we0;

reg [1:0] state;

always @(posedge clk) begin: WIDE_FSM
    if (rst == 1) begin
        state <= 0;
        done <= 0;
        ret <= 0;
        m_o_addr0 <= 0;
        m_o_addr1 <= 0;
        m_o_wdata0 <= 0;
        m_o_wdata1 <= 0;
        m_o_we0 <= 0;
        m_o_we1 <= 0;
        m_s_addr0 <= 0;
        m_s_wdata0 <= 0;
        m_s_we0 <= 0;
    end
    else begin
        m_o_we0 <= 0;
        m_o_we1 <= 0;
        m_s_we0 <= 0;
        case (state)
            2'd0: begin
                if (start) begin
                    done <= 0;
                    ret <= ($signed(p_a) + p_b);
                    m_o_addr0 <= 0;
                    m_o_wdata0 <= p_a;
                    m_o_we0 <= 1;
                    m_o_addr1 <= 1;
                    m_o_wdata1 <= p_b;
                    m_o_we1 <= 1;
                    m_s_addr0 <= 0;
                    m_s_wdata0 <= p_c;
                    m_s_we0 <= 1;
                    state <= 2'd1;
                end
            end
            2'd1: begin
                m_o_addr0 <= 2;
                m_o_wdata0 <= (p_a ^ p_b);
                m_o_we0 <= 1;
                state <= 2'd2;
            end
            default: begin
                done <= 1;
                state <= 2'd0;
            end
        endcase
    end
end

endmodule
